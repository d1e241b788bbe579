"""ExcessMTL: task weights that grow with each task's estimated excess risk."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import TINY, to_list
from mtlbench.methods.base import METHODS, Aggregation, Method, checked_gram
from mtlbench.methods.hparams import Choice, Dimension, Range, rules, space


@METHODS.register("excessmtl", aliases=("excess-mtl", "excess_mtl"))
class ExcessMTL(Method):
    """ExcessMTL (He et al., ICML 2024, "Robust Multi-Task Learning with Excess Risks").

    Official code: the authors' LibMTL fork, github.com/yifei-he/ExcessMTL (``ExcessMTL`` in
    LibMTL/LibMTL/weighting). Each task's excess risk is estimated by a second-order Taylor
    expansion with an AdaGrad-style diagonal Hessian: S_i <- S_i + g_i^2 (elementwise, summed over
    steps), e_i = sum_p g_ip^2 / sqrt(S_ip + 1e-7) (the paper's Eqs. 6-7). The first
    ``warmup_steps`` steps (default 1, the official code) keep uniform weights and set the
    baseline e0 = the mean of their e; afterwards the weights take an exponentiated-gradient step
    w_i <- w_i exp(eta e_i / e0_i), normalised (Eq. 9; ``robust_step_size`` eta = 0.01, the official
    default; the paper's Appendix C.1 suggests a warm-up of 3 epochs). The update is
    d = sum_i w_i g_i with this step's weights; w sums to K (``reduction="sum"``, the official
    code, which starts from weights 1) or to 1 (``"mean"``, torchjd).

    State: S (K x P, in the gradients' dtype and device: it doubles the memory of the gradient
    matrix and is saved in every checkpoint), the log-weights, the baseline and the step count;
    ``reset()`` clears them. The update is done in log space, so a huge ratio saturates the
    weights instead of overflowing (torchjd does the same); a zero baseline counts as 1e-300.
    torchjd's ``ExcessMTL(n_warmup_steps=n)`` is this method with ``warmup_steps=n`` and
    ``reduction="mean"``, except that torchjd adds 1e-7 to the baseline (and with n = 0 updates
    on the first step already, which the official code does not).
    """

    paper = 'He, Zhou, Zhang, Yun, Xu, Zeng, Chilimbi & Zhao, ICML 2024, "Robust Multi-Task Learning with Excess Risks"'
    code = "github.com/yifei-he/ExcessMTL (LibMTL/LibMTL/weighting/ExcessMTL.py); LibMTL ExcessMTL"
    hparam_rules = rules(
        robust_step_size=Range(0.0, strict=True),
        warmup_steps=Range(1),
        reduction=Choice(("sum", "mean")),
    )
    search_space = space(robust_step_size=Dimension("log", 1e-3, 1.0))
    state_attributes = ("squares", "log_weights", "baseline", "warmup_sum", "steps")

    def __init__(self, *, robust_step_size: float = 0.01, warmup_steps: int = 1, reduction: str = "sum") -> None:
        self.check_hparams(robust_step_size=robust_step_size, warmup_steps=warmup_steps, reduction=reduction)
        self.robust_step_size = float(robust_step_size)
        self.warmup_steps = int(warmup_steps)
        self.reduction = reduction
        self.reset()

    def reset(self) -> None:
        self.squares: Tensor | None = None
        self.log_weights: Tensor | None = None
        self.baseline: Tensor | None = None
        self.warmup_sum: Tensor | None = None
        self.steps = 0

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        g, bad = checked_gram(self, grads, losses)
        if bad is not None:
            return bad
        k = grads.shape[0]
        if self.squares is None or self.squares.shape != grads.shape:
            self.reset()
            self.squares = torch.zeros_like(grads)
            self.log_weights = torch.zeros(k, dtype=torch.float64)
            self.warmup_sum = torch.zeros(k, dtype=torch.float64)
        assert self.log_weights is not None and self.warmup_sum is not None
        squared = grads.square()
        squares = self.squares.to(grads.device).add_(squared)
        self.squares = squares
        # sum_p g^2 / sqrt(S + 1e-7) as one dot product per row: two passes over K x P fewer
        excess = torch.linalg.vecdot(squared, squares.add(1e-7).rsqrt_()).to(device="cpu", dtype=torch.float64)
        self.steps += 1
        info: dict[str, Any] = {"excess": to_list(excess)}
        if self.steps <= self.warmup_steps:
            self.warmup_sum = self.warmup_sum + excess
            if self.steps == self.warmup_steps:
                self.baseline = self.warmup_sum / self.warmup_steps
        else:
            assert self.baseline is not None
            ratio = excess / self.baseline.clamp_min(TINY)
            self.log_weights = torch.log_softmax(self.log_weights + self.robust_step_size * ratio, dim=0)
            info["ratio"] = to_list(ratio)
        weights = torch.softmax(self.log_weights, dim=0) * (k if self.reduction == "sum" else 1)
        info["weights"] = to_list(weights)
        weights = weights.to(device=grads.device, dtype=grads.dtype)
        return Aggregation(direction=weights @ grads, weights=weights, info=info, gram=g)
