"""An example mtlbench plugin: a gradient method that lives outside the mtlbench source tree."""

from __future__ import annotations

from torch import Tensor

from mtlbench.methods import Aggregation, Method


class UnitSum(Method):
    """Sum of unit-length task gradients, rescaled to their mean norm (every task pulls equally)."""

    def __init__(self, *, eps: float = 1e-12) -> None:
        self.eps = eps

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        norms = grads.double().norm(dim=1).clamp_min(self.eps)
        weights = norms.mean() / norms
        return Aggregation(
            direction=weights.to(grads.dtype) @ grads,
            weights=weights.to(grads.dtype),
            info={"mean_norm": float(norms.mean())},
        )
