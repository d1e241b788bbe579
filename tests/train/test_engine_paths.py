"""The engine's paths: graph lifetime, backward counts, weight reuse, clipping, mixed precision, fallbacks."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from mtlbench.methods import create
from mtlbench.methods.base import Aggregation, Method
from mtlbench.train.engine import MTLEngine, StepRecord
from mtlbench.train.loop import DiagnosticsSummary


class TwoHeads(nn.Module):
    """A tanh trunk read by two linear heads; ``b_sign=-1`` makes task b undo task a exactly."""

    def __init__(self, b_sign: float = 1.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Linear(4, 3)
        self.head_a = nn.Linear(3, 1)
        self.head_b = nn.Linear(3, 1)
        self.b_sign = b_sign
        self.representation: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = torch.tanh(self.trunk(x))
        self.representation = z
        a = self.head_a(z).pow(2).mean()
        b = -a + self.head_b(z).mean() * 0 if self.b_sign < 0 else (self.head_b(z) - 1).pow(2).mean()
        return {"a": a, "b": b}

    def engine(self, method: Method, **kwargs) -> MTLEngine:
        heads = {"a": list(self.head_a.parameters()), "b": list(self.head_b.parameters())}
        return MTLEngine(list(self.trunk.parameters()), heads, method, **kwargs)


X = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))


def _plain_grads(model: TwoHeads) -> tuple[torch.Tensor, dict[str, list[torch.Tensor]]]:
    """[2, P] trunk gradients and each head's plain gradient, computed independently."""
    rows, heads = [], {}
    trunk = list(model.trunk.parameters())
    for task, head in (("a", model.head_a), ("b", model.head_b)):
        grads = torch.autograd.grad(model(X)[task], [*trunk, *head.parameters()])
        rows.append(torch.cat([g.reshape(-1) for g in grads[: len(trunk)]]))
        heads[task] = list(grads[len(trunk) :])
    return torch.stack(rows), heads


def _trunk_grad(model: TwoHeads) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.trunk.parameters()])


class Fixed(Method):
    """Always the same weights; records how often it was asked."""

    def __init__(self, weights: list[float]) -> None:
        self.weights = torch.tensor(weights, dtype=torch.float64)
        self.calls = 0

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        self.calls += 1
        w = self.weights.to(grads.dtype)
        return Aggregation(direction=w @ grads, weights=w)


def _count_trunk_backwards(model: TwoHeads) -> list[int]:
    counter = [0]
    model.trunk.weight.register_hook(lambda g: counter.__setitem__(0, counter[0] + 1))
    return counter


@pytest.mark.parametrize(("name", "passes"), [("pcgrad", 2), ("ls", 1), ("famo", 1), ("dwa", 1)])
def test_backward_passes_through_the_trunk(name: str, passes: int) -> None:
    model = TwoHeads()
    counter = _count_trunk_backwards(model)
    model.engine(create(name)).backward(model(X))
    assert counter[0] == passes


def test_the_graph_is_freed_after_the_last_task() -> None:
    model = TwoHeads()
    losses = model(X)
    model.engine(create("pcgrad")).backward(losses)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        losses["a"].backward()


@pytest.mark.parametrize("update_every", [1, 3])
def test_reused_weights_weight_the_trunk_and_leave_the_heads_plain(update_every: int) -> None:
    model = TwoHeads()
    method = Fixed([0.25, 3.0])
    engine = model.engine(method, update_every=update_every)
    records = []
    for _ in range(3):
        model.zero_grad(set_to_none=True)
        records.append(engine.backward(model(X)))
        rows, heads = _plain_grads(model)
        torch.testing.assert_close(_trunk_grad(model), method.weights.float() @ rows)
        for task, head in (("a", model.head_a), ("b", model.head_b)):
            for p, g in zip(head.parameters(), heads[task]):
                torch.testing.assert_close(p.grad, g)
    assert method.calls == (3 if update_every == 1 else 1)
    assert [bool(r.info.get("reused_weights")) for r in records] == [False, update_every > 1, update_every > 1]
    assert records[1].weights == {"a": 0.25, "b": 3.0}


def test_a_head_whose_reused_weight_is_zero_still_gets_its_plain_gradient() -> None:
    model = TwoHeads()
    engine = model.engine(Fixed([0.0, 1.0]), update_every=2)
    engine.backward(model(X))
    model.zero_grad(set_to_none=True)
    engine.backward(model(X))  # reuses (0, 1)
    _, heads = _plain_grads(model)
    for p, g in zip(model.head_a.parameters(), heads["a"]):
        torch.testing.assert_close(p.grad, g)


def test_nash_update_period_takes_one_backward_between_solves_and_clips_the_trunk() -> None:
    model = TwoHeads()
    method = create("nashmtl", update_weights_every=3, max_norm=1e-3)
    counter = _count_trunk_backwards(model)
    engine = model.engine(method)
    records = []
    for _ in range(4):
        model.zero_grad(set_to_none=True)
        records.append(engine.backward(model(X)))
        assert float(_trunk_grad(model).norm()) == pytest.approx(1e-3, rel=1e-5)  # clipped on every step
    assert counter[0] == 2 + 1 + 1 + 2  # K passes on solve steps 0 and 3, one in between
    assert [bool(r.info.get("reused_weights")) for r in records] == [False, True, True, False]
    assert records[1].weights == pytest.approx(dict(zip("ab", records[0].info["alpha"])))
    _, heads = _plain_grads(model)
    for p, g in zip(model.head_b.parameters(), heads["b"]):
        torch.testing.assert_close(p.grad, g)  # heads are never weighted nor clipped


def test_famo_clips_the_trunk_gradient_and_not_the_heads() -> None:
    model, reference = TwoHeads(), TwoHeads()
    method = create("famo", max_norm=1e-4)
    record = model.engine(method).backward(model(X))
    losses = reference(X)
    weights = method.loss_weights(torch.stack([losses["a"], losses["b"]]).detach())
    (weights[0] * losses["a"] + weights[1] * losses["b"]).backward()
    assert float(_trunk_grad(model).norm()) == pytest.approx(1e-4, rel=1e-5)
    assert record.info["clip_scale"] < 1
    for p, q in zip(model.head_a.parameters(), reference.head_a.parameters()):
        torch.testing.assert_close(p.grad, q.grad)


def test_a_failed_solve_falls_back_and_the_step_log_says_so(caplog: pytest.LogCaptureFixture) -> None:
    model = TwoHeads(b_sign=-1.0)  # g_b = -g_a on the trunk: Nash-MTL has no solution
    with caplog.at_level(logging.WARNING, logger="mtlbench.methods"):
        record = model.engine(create("nashmtl")).backward(model(X))
    assert record.info["fallback"] == 1.0 and record.conflict is True
    assert record.cosines["a|b"] == pytest.approx(-1.0)
    assert "nashmtl" in caplog.text
    assert torch.isfinite(_trunk_grad(model)).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["nashmtl", "mgda", "cagrad"])
def test_mixed_precision_methods_see_unscaled_gradients(dtype: torch.dtype, name: str) -> None:
    """Under autocast with a GradScaler the solver sees the true gradients, and the step is sound."""
    plain_model, amp_model = TwoHeads(), TwoHeads()
    params = {"normalization": "l2"} if name == "mgda" else {}
    plain = plain_model.engine(create(name, **params)).backward(plain_model(X))
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**14)
    with torch.autocast("cpu", dtype=dtype):
        losses = amp_model(X)
    amp = amp_model.engine(create(name, **params)).backward(losses, scaler=scaler)
    tolerance = 0.05 if dtype == torch.bfloat16 else 0.01
    for task in "ab":
        assert amp.grad_norms[task] == pytest.approx(plain.grad_norms[task], rel=tolerance)
    assert amp.weights == pytest.approx(plain.weights, rel=3 * tolerance)
    optimizer = torch.optim.SGD(amp_model.parameters(), lr=0.1)
    scaler.unscale_(optimizer)  # what Trainer.step does: every .grad carries the scale alike
    torch.testing.assert_close(_trunk_grad(amp_model), _trunk_grad(plain_model), rtol=3 * tolerance, atol=1e-4)
    scaler.step(optimizer)
    scaler.update()
    assert scaler.get_scale() == 2.0**14  # no overflow, no skipped step


def test_an_overflowing_mixed_precision_step_is_skipped_not_crashed() -> None:
    model = TwoHeads()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**14)
    losses = model(X)
    losses = {"a": losses["a"] * float("inf"), "b": losses["b"]}  # an overflow in one task
    before = [p.detach().clone() for p in model.parameters()]
    record = model.engine(create("imtl-g")).backward(losses, scaler=scaler)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler.step(optimizer)
    scaler.update()
    assert record.info.get("non_finite") == 1.0
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert scaler.get_scale() < 2.0**14


def test_diagnostics_summary_reports_weights_cosines_norms_conflicts_and_method_info() -> None:
    summary = DiagnosticsSummary()
    summary.add(
        StepRecord(
            losses={"a": 1.0, "b": 2.0},
            weights={"a": 0.5, "b": 1.5},
            cosines={"a|b": -0.5},
            grad_norms={"a": 1.0, "b": 3.0},
            update_norm=2.0,
            conflict=True,
            info={"gain": 1.0, "cagrad_weights": [1.0, 0.0], "reused_weights": False},
        )
    )
    summary.add(StepRecord(losses={"a": 1.0, "b": 2.0}, weights={"a": 1.5, "b": 0.5}, info={"gain": 3.0}))
    summary.add(
        StepRecord(
            losses={"a": 1.0, "b": 2.0},
            cosines={"a|b": 0.5},
            grad_norms={"a": 3.0, "b": 1.0},
            update_norm=float("nan"),  # a skipped fp16 step does not poison the means
            conflict=False,
        )
    )
    out = summary.summary()
    assert out["steps"] == 3 and out["probed_steps"] == 2
    assert out["conflict_share"] == 0.5 and out["conflict_share[a|b]"] == 0.5
    assert out["mean_weight[a]"] == 1.0 and out["mean_weight[b]"] == 1.0
    assert out["mean_cos[a|b]"] == 0.0 and out["mean_grad_norm[b]"] == 2.0
    assert out["mean_update_norm"] == 2.0
    assert out["mean_info.gain"] == 2.0 and out["mean_info.cagrad_weights[0]"] == 1.0
    assert out["mean_info.reused_weights"] == 0.0
