"""MGDA and MGDA-UB: the min-norm point of the convex hull of the task gradients."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from mtlbench.errors import MtlbenchError
from mtlbench.methods._linalg import TINY, gram, normalized, to_list, weighted_sum
from mtlbench.methods.base import (
    METHODS,
    Aggregation,
    GradientSource,
    Method,
    check_choice,
    check_inputs,
    check_range,
    log_fallback,
    non_finite,
)
from mtlbench.methods.solvers import min_norm_weights

NORMALIZATIONS = ("none", "l2", "loss", "loss+")


@METHODS.register("mgda")
class MGDA(Method):
    """MGDA (Sener & Koltun, NeurIPS 2018, "Multi-Task Learning as Multi-Objective Optimization").

    Official code: github.com/isl-org/MultiObjectiveOptimization. The solver finds
    w* = argmin_{w in simplex} |sum_i w_i g_i / n_i|^2, where ``normalization`` picks n_i:
    ``"none"`` 1, ``"l2"`` |g_i|, ``"loss"`` L_i, ``"loss+"`` L_i |g_i| (the official
    ``gradient_normalizers``; default ``"loss+"``, the setting of the official sample config;
    Nash-MTL's and LibMTL's ports default to ``"none"``). As in the official code the weights
    then scale the RAW losses: d = sum_i w*_i g_i with sum_i w*_i = 1 (``reduction="mean"``);
    ``"sum"`` multiplies the weights by K, as Nash-MTL's port and CAGrad's trainer do.

    Solver: closed form for K = 2; for K > 2 an exact active-set method on the Gram matrix
    (float64, on the gradients' device) instead of the official Frank-Wolfe/projected-gradient
    loop (250 iterations, stop at 1e-5), so the KKT conditions hold to rounding. Deviations: the
    official K = 2 rule returns 0.999/0.001 instead of 1/0 when one gradient dominates; we return
    the exact 1/0. A zero normaliser (zero gradient or loss) leaves that row unnormalised. If the
    solve fails the weights fall back to uniform, ``info["fallback"]`` is 1 and a warning is
    logged. The official code backpropagates ``sum_i w_i L_i`` through the whole model, so its
    heads get w_i times their gradient; mtlbench gives every head the plain gradient of its own
    loss under every gradient method (LibMTL's convention), for MGDA-UB too.
    """

    gradient_source: ClassVar[GradientSource] = "parameters"

    def __init__(self, *, normalization: str = "loss+", reduction: str = "mean", max_iter: int = 200) -> None:
        check_choice(self._name(), "normalization", normalization, NORMALIZATIONS)
        check_choice(self._name(), "reduction", reduction, ("mean", "sum"))
        check_range(self._name(), "max_iter", max_iter, low=1)
        self.normalization = normalization
        self.reduction = reduction
        self.max_iter = int(max_iter)

    @classmethod
    def _name(cls) -> str:
        return cls.registered_name or "mgda"

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        k = check_inputs(grads, losses)
        g = gram(grads)
        if (bad := non_finite(grads, g)) is not None:
            return bad
        scale = self._normalizers(g, losses)
        g_solver, size = normalized(g / (scale[:, None] * scale[None, :]))
        info: dict[str, float | list[float]] = {"normalizers": to_list(scale)}
        if size == 0.0:  # every gradient is zero: any weights give d = 0
            weights = torch.full((k,), 1.0 / k, dtype=g.dtype, device=g.device)
            info.update(iterations=0.0, kkt_residual=0.0, fallback=0.0, degenerate=1.0)
        else:
            solution = min_norm_weights(g_solver, max_iter=self.max_iter)
            ok = solution.converged and bool(torch.isfinite(solution.x).all())
            weights = solution.x if ok else torch.full((k,), 1.0 / k, dtype=g.dtype, device=g.device)
            if not ok:
                log_fallback(
                    self._name(),
                    f"min-norm point not found in {solution.iterations} iterations "
                    f"(KKT residual {solution.residual:.3g})",
                    "uniform weights",
                )
            info.update(
                iterations=float(solution.iterations),
                kkt_residual=solution.residual,
                fallback=0.0 if ok else 1.0,
                min_norm=float(weights @ g_solver @ weights) ** 0.5 if ok else float("nan"),
            )
        if self.reduction == "sum":
            weights = weights * k
        return Aggregation(direction=weighted_sum(weights, grads), weights=weights.to(grads.dtype), info=info)

    def _normalizers(self, g: Tensor, losses: Tensor | None) -> Tensor:
        k = g.shape[0]
        ones = torch.ones(k, dtype=g.dtype, device=g.device)
        if self.normalization == "none":
            return ones
        if self.normalization in ("loss", "loss+") and losses is None:
            raise MtlbenchError(
                f"{self._name()}: normalization {self.normalization!r} needs the task losses; "
                "pass losses= or normalization='none'"
            )
        scale = ones
        if self.normalization in ("l2", "loss+"):
            scale = scale * g.diagonal().clamp_min(0).sqrt()
        if self.normalization in ("loss", "loss+"):
            assert losses is not None
            scale = scale * losses.detach().to(device=g.device, dtype=g.dtype)
        return torch.where((scale.abs() > TINY) & torch.isfinite(scale), scale, ones)


@METHODS.register("mgda-ub", aliases=("mgda_ub", "mgdaub"))
class MGDAUB(MGDA):
    """MGDA-UB (Sener & Koltun 2018, Sec. 3.3): MGDA on gradients w.r.t. the shared representation.

    MGDA's solver on the gradients of the task losses w.r.t. the shared REPRESENTATION z instead
    of the shared parameters (``use_approximation`` in the official code). It optimises an
    upper bound and needs one backward through the trunk: the engine feeds rows d L_i / d z
    (``gradient_source = "representation"``, z of the whole batch flattened) and backpropagates
    sum_i w_i L_i with ``Aggregation.weights`` (each head then gets its plain gradient back);
    the returned direction is in z-space. Same normalisations, defaults and deviations as ``mgda``.
    """

    gradient_source: ClassVar[GradientSource] = "representation"
