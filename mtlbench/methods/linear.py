"""Linear scalarization: the baseline every MTL method must beat."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mtlbench.methods.base import METHODS, LossWeightingMethod


@METHODS.register("ls", aliases=("linear", "ew"))
class LinearScalarization(LossWeightingMethod):
    """d = sum_i w_i g_i, computed by one backward pass of sum_i w_i L_i.

    ``reduction="sum"`` (default) matches LibMTL's EW, Nash-MTL's LS and CAGrad's
    trainer; ``"mean"`` divides the weights by K. ``weights`` default to 1 per task.
    """

    def __init__(self, *, weights: Sequence[float] | None = None, reduction: str = "sum") -> None:
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        self.weights = None if weights is None else tuple(float(w) for w in weights)
        self.reduction = reduction

    def loss_weights(self, losses: Tensor) -> Tensor:
        k = losses.shape[0]
        if self.weights is None:
            w = torch.ones(k, dtype=losses.dtype, device=losses.device)
        else:
            if len(self.weights) != k:
                raise ValueError(f"ls got {len(self.weights)} weights for {k} tasks")
            w = torch.tensor(self.weights, dtype=losses.dtype, device=losses.device)
        return w / k if self.reduction == "mean" else w
