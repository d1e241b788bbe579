"""Engine modes: representation-level methods, weight reuse, gradient scaling, RLAR, staged schedules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtlbench.errors import MtlbenchError
from mtlbench.methods import create
from mtlbench.methods.base import Aggregation, Method
from mtlbench.train.engine import MTLEngine


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Linear(4, 3)
        self.head_a = nn.Linear(3, 1)
        self.head_b = nn.Linear(3, 1)
        self.representation: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = torch.tanh(self.trunk(x))
        self.representation = z
        return {"a": self.head_a(z).pow(2).mean(), "b": (self.head_b(z) - 1).pow(2).mean()}


def _engine(model: TwoHeads, method: Method, **kwargs) -> MTLEngine:
    return MTLEngine(
        list(model.trunk.parameters()),
        {"a": list(model.head_a.parameters()), "b": list(model.head_b.parameters())},
        method,
        **kwargs,
    )


def _grads(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


X = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))


class NormRatio(Method):
    """Weights 1/|g_i| of the rows it is given: shows which gradients the engine passed."""

    gradient_source = "representation"

    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        self.seen.append(grads.clone())
        weights = 1 / grads.norm(dim=1)
        return Aggregation(direction=weights @ grads, weights=weights)


def test_representation_method_sees_gradients_of_z_and_weights_the_trunk() -> None:
    model, method = TwoHeads(), NormRatio()
    losses = model(X)
    z = model.representation
    expected_rows = torch.stack([torch.autograd.grad(losses[t], z, retain_graph=True)[0].reshape(-1) for t in "ab"])
    weights = 1 / expected_rows.norm(dim=1)
    reference = TwoHeads()
    ref_losses = reference(X)
    # the trunk gets the gradient of the weighted loss, each head the plain gradient of its own loss
    trunk = list(reference.trunk.parameters())
    trunk_grads = torch.autograd.grad(
        weights[0] * ref_losses["a"] + weights[1] * ref_losses["b"], trunk, retain_graph=True
    )
    head_grads = [
        *torch.autograd.grad(ref_losses["a"], list(reference.head_a.parameters()), retain_graph=True),
        *torch.autograd.grad(ref_losses["b"], list(reference.head_b.parameters())),
    ]

    record = _engine(model, method).backward(losses, representation=z)

    torch.testing.assert_close(method.seen[0], expected_rows)
    torch.testing.assert_close(_grads(model), torch.cat([g.reshape(-1) for g in [*trunk_grads, *head_grads]]))
    assert record.info["gradient_source"] == "representation"


def test_update_every_reuses_the_last_weights_between_solves() -> None:
    model, method = TwoHeads(), NormRatio()
    method.gradient_source = "parameters"  # type: ignore[misc]
    engine = _engine(model, method, update_every=3)
    records = []
    for _ in range(4):
        model.zero_grad()
        records.append(engine.backward(model(X)))
    assert len(method.seen) == 2  # solves at steps 0 and 3 only
    assert records[1].info.get("reused_weights") and records[2].info.get("reused_weights")
    assert records[1].weights == records[0].weights


def test_gradient_scale_is_removed_before_the_method_sees_gradients() -> None:
    plain_model, scaled_model = TwoHeads(), TwoHeads()
    plain, scaled = create("pcgrad"), create("pcgrad")
    seen = {}
    for name, method in (("plain", plain), ("scaled", scaled)):
        original = method.aggregate

        def spy(grads, losses=None, _name=name, _orig=original):
            seen[_name] = grads.clone()
            return _orig(grads, losses)

        method.aggregate = spy
    _engine(plain_model, plain).backward(plain_model(X))
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    _engine(scaled_model, scaled).backward(scaled_model(X), scaler=scaler)
    torch.testing.assert_close(seen["scaled"], seen["plain"])
    # every .grad carries the scale, so scaler.unscale_ / step treat shared and heads alike
    torch.testing.assert_close(_grads(scaled_model) / 2.0**12, _grads(plain_model))


def test_rlar_adds_the_gradient_of_its_alignment_penalty() -> None:
    model, reference = TwoHeads(), TwoHeads()
    method = create("rlar", base="ls", beta=0.5, tau=-1.0)  # tau -1: every pair is penalised
    record = _engine(model, method).backward(model(X), representation=model.representation)

    losses = reference(X)
    z = reference.representation
    a, b = (torch.autograd.grad(losses[t], z, retain_graph=True, create_graph=True)[0] for t in "ab")
    cos = nn.functional.cosine_similarity(a, b, dim=1)
    penalty = 0.5 * torch.relu(cos + 1.0).pow(2).mean()
    (losses["a"] + losses["b"] + penalty).backward()

    torch.testing.assert_close(_grads(model), _grads(reference))
    assert record.info["penalty"] == pytest.approx(float(penalty.detach()), rel=1e-6)


def test_rlar_penalty_is_zero_below_its_threshold() -> None:
    method = create("rlar", beta=1.0, tau=0.5)
    orthogonal = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])]
    assert float(method.representation_penalty(orthogonal)) == 0.0
    aligned = [torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]])]
    assert float(method.representation_penalty(aligned)) == pytest.approx(0.25)


def test_staged_schedule_trains_one_stage_at_a_time_and_freezes_earlier_parts() -> None:
    method = create("staged", stages=["b", "a"])
    method.set_task_names(["a", "b"])
    assert [method.stage_of(e, 4) for e in range(4)] == [0, 0, 1, 1]
    method.start_epoch(0, 4)
    assert method.frozen_groups() == ("a",)
    assert method.loss_weights(torch.ones(2)).tolist() == [0.0, 1.0]
    method.start_epoch(3, 4)
    assert set(method.frozen_groups()) == {"b", "shared"}
    with pytest.raises(MtlbenchError, match="stages name tasks"):
        create("staged", stages=["cls"]).set_task_names(["report", "cls"])
    with pytest.raises(MtlbenchError, match="need at least 2 epochs"):
        method.start_epoch(0, 1)
    with pytest.raises(MtlbenchError, match="add up to 5"):
        create("staged", stages=["b", "a"], epochs=[2, 3]).stage_of(0, 4)
