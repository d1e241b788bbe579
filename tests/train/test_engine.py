"""The MTL step engine: per-task gradients over shared parameters, heads get their own gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtlbench.methods import combine, create
from mtlbench.train.engine import MTLEngine


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Linear(4, 3)
        self.head_a = nn.Linear(3, 1)
        self.head_b = nn.Linear(3, 1)

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = torch.tanh(self.trunk(x))
        return {"a": self.head_a(z).pow(2).mean(), "b": (self.head_b(z) - 1).pow(2).mean()}


def _engine(model: TwoHeads, method: str, **params) -> MTLEngine:
    return MTLEngine(
        list(model.trunk.parameters()),
        {"a": list(model.head_a.parameters()), "b": list(model.head_b.parameters())},
        create(method, **params),
    )


def _reference_grads(model: TwoHeads, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, list[torch.Tensor]]]:
    shared = list(model.trunk.parameters())
    rows, heads = [], {}
    for task, head in (("a", model.head_a), ("b", model.head_b)):
        loss = model.losses(x)[task]
        grads = torch.autograd.grad(loss, [*shared, *head.parameters()])
        rows.append(torch.cat([g.reshape(-1) for g in grads[: len(shared)]]))
        heads[task] = list(grads[len(shared) :])
    return torch.stack(rows), heads


def test_gradient_method_combines_shared_and_leaves_heads_plain() -> None:
    model = TwoHeads()
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    G, head_grads = _reference_grads(model, x)
    record = _engine(model, "pcgrad").backward(model.losses(x))
    expected = combine("pcgrad", G)
    got = torch.cat([p.grad.reshape(-1) for p in model.trunk.parameters()])
    torch.testing.assert_close(got, expected)
    for task, head in (("a", model.head_a), ("b", model.head_b)):
        for p, g in zip(head.parameters(), head_grads[task]):
            torch.testing.assert_close(p.grad, g)
    cos = float(torch.nn.functional.cosine_similarity(G[0], G[1], dim=0))
    assert record.cosines["a|b"] == pytest.approx(cos, abs=1e-6)
    assert record.conflict == (cos < 0)
    assert record.grad_norms["a"] == pytest.approx(float(G[0].norm()), rel=1e-6)


def test_loss_weighting_is_one_backward_of_the_weighted_sum() -> None:
    model = TwoHeads()
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(2))
    losses = model.losses(x)
    expected = torch.autograd.grad(0.25 * losses["a"] + 2.0 * losses["b"], list(model.parameters()))
    record = _engine(model, "ls", weights=[0.25, 2.0]).backward(model.losses(x))
    for p, g in zip(model.parameters(), expected):
        torch.testing.assert_close(p.grad, g)
    assert record.weights == {"a": 0.25, "b": 2.0}
    assert record.cosines == {}


def test_probe_gives_loss_weighting_methods_diagnostics() -> None:
    model = TwoHeads()
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(3))
    engine = MTLEngine(
        list(model.trunk.parameters()),
        {"a": list(model.head_a.parameters()), "b": list(model.head_b.parameters())},
        create("ls"),
        probe_every=2,
    )
    first = engine.backward(model.losses(x))
    second = engine.backward(model.losses(x))
    assert "a|b" in first.cosines and second.cosines == {}


def test_losses_for_other_tasks_are_rejected() -> None:
    model = TwoHeads()
    losses = model.losses(torch.randn(2, 4))
    with pytest.raises(ValueError, match="tasks"):
        _engine(model, "ls").backward({"b": losses["b"], "a": losses["a"]})
