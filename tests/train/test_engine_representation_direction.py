"""A representation-level method whose direction is no weighted sum (GradDrop): the engine puts the
direction into the trunk through z in one backward pass, heads and non-z paths stay plain."""

from __future__ import annotations

import torch
from torch import nn

from mtlbench.methods import create
from mtlbench.methods.base import Aggregation, Method
from mtlbench.train.engine import MTLEngine

X = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))


class ZAndDirect(nn.Module):
    """A tanh trunk read by two heads; task b also reaches the shared ``offset`` other than through z
    (as ``cmn``'s report loss reaches its shared memory from the text side)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Linear(4, 5)
        self.offset = nn.Parameter(torch.tensor([0.5, -1.0]))
        self.head_a = nn.Linear(5, 1)
        self.head_b = nn.Linear(5, 1)
        self.representation: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = torch.tanh(self.trunk(x))
        self.representation = z
        a = (self.head_a(z) - 1).pow(2).mean()
        b = self.head_b(z).pow(2).mean() + 0.5 * self.offset.pow(2).sum()
        return {"a": a, "b": b}

    def engine(self, method: Method) -> MTLEngine:
        heads = {"a": list(self.head_a.parameters()), "b": list(self.head_b.parameters())}
        return MTLEngine([*self.trunk.parameters(), self.offset], heads, method)


class Twisted(Method):
    """2 g_a - g_b at z with its first coordinate zeroed: no weighted sum of the rows."""

    gradient_source = "representation"

    def __init__(self) -> None:
        self.seen: torch.Tensor | None = None

    def set_representation(self, representation: torch.Tensor) -> None:
        self.seen = representation

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        direction = 2 * grads[0] - grads[1]
        direction[0] = 0.0
        return Aggregation(direction=direction)


def _expected(model: ZAndDirect, at_z) -> tuple[list[torch.Tensor], dict[str, list[torch.Tensor]]]:
    """Trunk gradients J_z^T at_z(rows, z), the offset's plain gradient, each head's plain gradient."""
    losses = model(X)
    z = model.representation
    rows = torch.stack([torch.autograd.grad(losses[t], z, retain_graph=True)[0] for t in "ab"])
    direction = at_z(rows, z.detach())
    trunk = torch.autograd.grad(z, list(model.trunk.parameters()), grad_outputs=direction, retain_graph=True)
    offset = torch.autograd.grad(losses["b"], model.offset, retain_graph=True)
    heads = {
        "a": list(torch.autograd.grad(losses["a"], list(model.head_a.parameters()), retain_graph=True)),
        "b": list(torch.autograd.grad(losses["b"], list(model.head_b.parameters()))),
    }
    return [*trunk, *offset], heads


def _check(model: ZAndDirect, method: Method, at_z) -> None:
    expected_shared, expected_heads = _expected(ZAndDirect(), at_z)
    record = model.engine(method).backward(model(X), representation=model.representation)
    for p, g in zip([*model.trunk.parameters(), model.offset], expected_shared, strict=True):
        torch.testing.assert_close(p.grad, g)
    for task, head in (("a", model.head_a), ("b", model.head_b)):
        for p, g in zip(head.parameters(), expected_heads[task], strict=True):
            torch.testing.assert_close(p.grad, g)
    assert record.info["gradient_source"] == "representation" and record.weights is None


def test_a_direction_at_z_reaches_the_trunk_through_z_and_leaves_heads_and_other_paths_plain() -> None:
    def twisted(rows: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        direction = (2 * rows[0] - rows[1]).reshape(-1)
        direction[0] = 0.0
        return direction.view_as(z)

    model, method = ZAndDirect(), Twisted()
    _check(model, method, twisted)
    torch.testing.assert_close(method.seen, model.representation.detach())  # shown z before aggregate


def test_graddrop_in_training_masks_per_feature_with_the_batch_summed_sign_purity() -> None:
    """The paper's Algorithm 1 for batch-separated activations, written out here with the same draws."""

    def graddrop(rows: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        purity_rows = (rows * z.sign()).sum(dim=1)  # [K, features]: summed over the batch
        purity = 0.5 * (1 + purity_rows.sum(0) / purity_rows.abs().sum(0))
        draws = torch.rand(purity.shape, generator=torch.Generator().manual_seed(11), dtype=torch.float64).float()
        masks = ((purity > draws) & (purity_rows > 0)) | ((purity < draws) & (purity_rows < 0))
        return (rows * masks[:, None, :]).sum(0)

    _check(ZAndDirect(), create("graddrop", seed=11), graddrop)
