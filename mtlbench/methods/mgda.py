"""MGDA: the min-norm point of the convex hull of the task gradients."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from mtlbench.methods._linalg import TINY, normalized, to_list
from mtlbench.methods.base import LOGGER, METHODS, GradientSource, GramianMethod, log_fallback
from mtlbench.methods.hparams import Choice, Dimension, Range, rules, space
from mtlbench.methods.solvers import min_norm_weights

NORMALIZATIONS = ("none", "l2", "loss", "loss+")


@METHODS.register("mgda")
class MGDA(GramianMethod):
    """MGDA (Sener & Koltun, NeurIPS 2018, "Multi-Task Learning as Multi-Objective Optimization").

    Official code: github.com/isl-org/MultiObjectiveOptimization. The solver finds
    w* = argmin_{w in simplex} |sum_i w_i g_i / n_i|^2, where ``normalization`` picks n_i:
    ``"none"`` 1, ``"l2"`` |g_i|, ``"loss"`` L_i, ``"loss+"`` L_i |g_i| (the official
    ``gradient_normalizers``; default ``"loss+"``, the setting of the official sample config;
    Nash-MTL's and LibMTL's ports default to ``"none"``). As in the official code the weights
    then scale the RAW losses: d = sum_i w*_i g_i with sum_i w*_i = 1 (``reduction="mean"``);
    ``"sum"`` multiplies the weights by K, as Nash-MTL's port and CAGrad's trainer do.

    Without losses (a lone matrix, ``combine("mgda", G)``), a loss-based normalisation drops its
    loss factor: every task's loss counts as equal, and the simplex solution does not depend on
    their common value, so ``"loss+"`` solves as ``"l2"`` and ``"loss"`` as ``"none"``. This is
    said in the log and in ``info["losses_missing"]``; in training the engine always passes
    the losses, so the official default applies there.

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
    paper = 'Sener & Koltun, NeurIPS 2018, "Multi-Task Learning as Multi-Objective Optimization"'
    code = "github.com/isl-org/MultiObjectiveOptimization"
    hparam_rules = rules(normalization=Choice(NORMALIZATIONS), reduction=Choice(("mean", "sum")), max_iter=Range(1))
    search_space = space(normalization=Dimension("choice", choices=NORMALIZATIONS))

    def __init__(self, *, normalization: str = "loss+", reduction: str = "mean", max_iter: int = 200) -> None:
        self.check_hparams(normalization=normalization, reduction=reduction, max_iter=max_iter)
        self.normalization = normalization
        self.reduction = reduction
        self.max_iter = int(max_iter)

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        scale = self._normalizers(g, losses)
        g_solver, size = normalized(g / (scale[:, None] * scale[None, :]))
        info: dict[str, float | list[float]] = {"normalizers": to_list(scale)}
        if losses is None and "loss" in self.normalization:
            info["losses_missing"] = 1.0
        if size == 0.0:  # every gradient is zero: any weights give d = 0
            weights = torch.full((k,), 1.0 / k, dtype=g.dtype, device=g.device)
            info.update(iterations=0.0, kkt_residual=0.0, fallback=0.0, degenerate=1.0)
        else:
            solution = min_norm_weights(g_solver, max_iter=self.max_iter)
            ok = solution.converged and bool(torch.isfinite(solution.x).all())
            weights = solution.x if ok else torch.full((k,), 1.0 / k, dtype=g.dtype, device=g.device)
            if not ok:
                log_fallback(
                    self.display_name(),
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
        return weights, info

    def _normalizers(self, g: Tensor, losses: Tensor | None) -> Tensor:
        if losses is None and "loss" in self.normalization:
            LOGGER.warning(
                "%s: no losses given; normalization %r counts every task's loss as equal for this step",
                self.display_name(),
                self.normalization,
            )
        return gradient_normalizers(g, losses, self.normalization)


def gradient_normalizers(g: Tensor, losses: Tensor | None, normalization: str) -> Tensor:
    """The official ``gradient_normalizers``, from the Gram matrix ``g`` of the rows to normalise.

    n_i = 1 (``"none"``), |g_i| (``"l2"``), L_i (``"loss"``), L_i |g_i| (``"loss+"``); without
    losses the loss factor is left out; a zero or non-finite n_i is replaced by 1.
    """
    ones = torch.ones(g.shape[0], dtype=g.dtype, device=g.device)
    if normalization == "none":
        return ones
    scale = ones
    if normalization in ("l2", "loss+"):
        scale = scale * g.diagonal().clamp_min(0).sqrt()
    if normalization in ("loss", "loss+") and losses is not None:
        scale = scale * losses.detach().to(device=g.device, dtype=g.dtype)
    return torch.where((scale.abs() > TINY) & torch.isfinite(scale), scale, ones)
