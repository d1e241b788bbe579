"""Linear scalarization: the baseline every MTL method must beat."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from mtlbench.errors import MtlbenchError
from mtlbench.methods.base import METHODS, LossWeightingMethod
from mtlbench.methods.hparams import Choice, Described, rules, space


@METHODS.register("ls", aliases=("linear", "ew"))
class LinearScalarization(LossWeightingMethod):
    """Linear scalarization: d = sum_i w_i g_i by ONE backward pass of sum_i w_i L_i.

    Conventions: ``reduction="sum"`` (default) adds the weighted losses, as LibMTL's EW,
    Nash-MTL's ``ls`` and CAGrad's trainer do; ``"mean"`` divides the weights by K (torchjd's
    ``Mean``). ``weights`` default to 1 per task; fixed weights are passed explicitly (e.g.
    ``weights=[1, 4]``, CAME-Grad's task weights; in a grid file ``[params.ls] weights = [1, 4]``).

    Tuning: under ``mtlbench run --tune N`` ``ls`` tunes its learning rate only, so it stays the
    equal-weights baseline of the MTL literature; its tuned-weights counterpart is the separate
    row ``ls-tuned`` (:mod:`mtlbench.methods.ls_tuned`), which every tuned grid with ``ls`` gets.
    No deviation from those codebases.
    """

    needs_losses = False
    paper = "the weighted sum of the task losses; the baseline of every MTL paper (Kurin et al., NeurIPS 2022)"
    code = "LibMTL EW; torchjd Sum / Mean"
    hparam_rules = rules(
        weights=Described("finite numbers, one per task; None: all 1"),
        reduction=Choice(("sum", "mean")),
    )
    search_space = space()  # the learning rate only: tuned weights are ls-tuned's row

    def __init__(self, *, weights: Sequence[float] | None = None, reduction: str = "sum") -> None:
        self.check_hparams(reduction=reduction)
        if weights is not None:
            weights = tuple(float(w) for w in weights)
            if not weights or not all(math.isfinite(w) for w in weights):
                raise MtlbenchError(f"ls: weights must be a non-empty list of finite numbers; got {list(weights)}")
        self.weights = weights
        self.reduction = reduction

    def loss_weights(self, losses: Tensor) -> Tensor:
        k = losses.shape[0]
        if self.weights is None:
            w = torch.ones(k, dtype=losses.dtype, device=losses.device)
        else:
            if len(self.weights) != k:
                raise MtlbenchError(f"ls: got {len(self.weights)} weights for {k} tasks; pass one weight per task")
            w = torch.tensor(self.weights, dtype=losses.dtype, device=losses.device)
        return w / k if self.reduction == "mean" else w
