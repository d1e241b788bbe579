"""CAGrad: the update that maximises the worst task's improvement near the average gradient."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import normalized, to_list
from mtlbench.methods.base import METHODS, GramianMethod, log_fallback
from mtlbench.methods.hparams import Choice, Dimension, Range, rules, space
from mtlbench.methods.solvers import simplex_minimize


@dataclass(frozen=True)
class CAGradStep:
    """d = sum_i coeffs_i g_i = g_0 + (c |g_0| / |g_w|) g_w (mean convention, no rescale)."""

    coeffs: Tensor
    dual_weights: Tensor
    info: dict[str, float | list[float]] = field(default_factory=dict)


def cagrad_step(g: Tensor, c: float, *, max_iter: int = 200) -> CAGradStep:
    """Solve CAGrad's dual on the Gram matrix ``g`` (float64) and return the direction's coefficients.

    Dual: w* = argmin_{w in simplex} g_w . g_0 + c |g_0| |g_w|, with g_0 = mean_i g_i; then
    d = g_0 + (c |g_0| / |g_w*|) g_w*. Solved exactly by ``simplex_minimize`` on G normalised to
    unit largest diagonal (w* is scale-free). Degenerate cases: g_0 = 0 or c = 0 give d = g_0;
    |g_w*| = 0 gives d = g_0 (the official code's lmbda * g_w -> 0). A failed solve falls back
    to uniform dual weights (g_w = g_0, d = (1 + c) g_0) and sets ``fallback``.
    """
    k = g.shape[0]
    uniform = torch.full((k,), 1.0 / k, dtype=g.dtype, device=g.device)
    g_n, size = normalized(g)
    info: dict[str, float | list[float]] = {"iterations": 0.0, "kkt_residual": 0.0, "fallback": 0.0}
    g0_sq = float(uniform @ g_n @ uniform) if size > 0 else 0.0
    if not math.isfinite(size):  # NaN/inf gradients: let them through, the run is diverging anyway
        info["fallback"] = 1.0
        return CAGradStep(uniform, uniform, info)
    if size == 0.0 or g0_sq <= 0.0 or c == 0.0:
        info.update(lam=0.0, g0_norm=math.sqrt(max(g0_sq, 0.0) * size), gw_norm=0.0, degenerate=1.0)
        return CAGradStep(uniform, uniform, info)
    radius = c * math.sqrt(g0_sq)
    solution = simplex_minimize(g_n, g_n @ uniform, radius, max_iter=max_iter)
    ok = solution.converged and bool(torch.isfinite(solution.x).all())
    w = solution.x if ok else uniform
    if not ok:
        log_fallback(
            "cagrad",
            f"dual not solved in {solution.iterations} iterations (KKT residual {solution.residual:.3g})",
            "uniform dual weights",
        )
    info.update(iterations=float(solution.iterations), kkt_residual=solution.residual, fallback=0.0 if ok else 1.0)
    gw_sq = max(float(w @ g_n @ w), 0.0)
    if gw_sq <= 1e-24:  # g_w* = 0: the direction through it is undefined; keep g_0
        lam = 0.0
        info["degenerate"] = 1.0
    else:
        lam = radius / math.sqrt(gw_sq)
    info.update(lam=lam, g0_norm=math.sqrt(g0_sq * size), gw_norm=math.sqrt(gw_sq * size))
    return CAGradStep(uniform + lam * w, w, info)


@METHODS.register("cagrad")
class CAGrad(GramianMethod):
    """CAGrad (Liu et al., NeurIPS 2021, "Conflict-Averse Gradient Descent for Multi-task Learning").

    Official code: github.com/Cranial-XIX/CAGrad (``cagrad()`` in nyuv2/utils.py). Dual
    w* = argmin_{w in simplex} g_w . g_0 + c |g_0| |g_w|, d = g_0 + (c |g_0| / |g_w*|) g_w*;
    ``rescale`` 0 keeps d, 1 (default, official) divides by 1 + c^2, 2 by 1 + c. ``c`` = 0.4
    (the NYUv2 script; the argparse default is 0.5). The official trainer multiplies d by K "to
    match the sum loss" (``overwrite_grad``), so ``reduction="sum"`` (default) returns K d and
    ``"mean"`` returns d (torchjd's CAGrad = ``rescale=0, reduction="mean"``).

    Solver: an exact active-set method on the K x K Gram matrix in float64 on the gradients'
    device, instead of scipy SLSQP on the CPU. Deviations: no 1e-8 fudge terms inside the square
    root / norms; if |g_w*| = 0 (or g_0 = 0) the update is g_0 (the official formula's limit);
    if the solve fails the dual weights fall back to uniform and ``info["fallback"]`` = 1.
    ``info``: dual weights, lam = c|g_0|/|g_w|, |g_0|, |g_w|, solver iterations, KKT residual.
    """

    paper = 'Liu et al., NeurIPS 2021, "Conflict-Averse Gradient Descent for Multi-task Learning"'
    code = "github.com/Cranial-XIX/CAGrad"
    hparam_rules = rules(
        c=Range(0.0),
        rescale=Choice((0, 1, 2)),
        reduction=Choice(("sum", "mean")),
        max_iter=Range(1),
    )
    search_space = space(c=Dimension("uniform", 0.1, 0.9))

    def __init__(self, *, c: float = 0.4, rescale: int = 1, reduction: str = "sum", max_iter: int = 200) -> None:
        self.check_hparams(c=c, rescale=rescale, reduction=reduction, max_iter=max_iter)
        self.c = float(c)
        self.rescale = int(rescale)
        self.reduction = reduction
        self.max_iter = int(max_iter)

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        step = cagrad_step(g, self.c, max_iter=self.max_iter)
        divisor = {0: 1.0, 1: 1.0 + self.c**2, 2: 1.0 + self.c}[self.rescale]
        weights = step.coeffs / divisor * (k if self.reduction == "sum" else 1)
        return weights, {"dual_weights": to_list(step.dual_weights), **step.info}
