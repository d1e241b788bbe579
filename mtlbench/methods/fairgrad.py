"""FairGrad: the update that allocates improvement among the tasks by alpha-fairness."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import clip_weights, to_list
from mtlbench.methods.base import METHODS, GramianMethod, log_fallback
from mtlbench.methods.hparams import Choice, Dimension, Range, rules, space
from mtlbench.methods.solvers import alpha_fair_weights


@METHODS.register("fairgrad")
class FairGrad(GramianMethod):
    """FairGrad (Ban & Ji, ICML 2024, "Fair Resource Allocation in Multi-Task Learning").

    Official code: github.com/OptMN-Lab/fairgrad (``FairGrad`` in methods/weight_methods.py).
    The update d = sum_i w_i g_i maximises the alpha-fair utility sum_i (g_i . d)^(1-alpha)/(1-alpha)
    (log for alpha = 1) of the tasks' first-order improvements; its optimality conditions are
    (G w)_i = w_i^(-1/alpha), w > 0 (the paper's Eq. 4), solved here. alpha = 1 is proportional
    fairness: the condition is then w_i (G w)_i = 1, Nash-MTL's bargaining solution (tested);
    alpha -> infinity tends to max-min fairness. ``alpha`` = 1 (the official default).

    Conventions as the official trainer: ``reduction="sum"`` (default) multiplies d by K, as its
    ``overwrite_grad`` does "to match the sum loss" (torchjd's ``FairGrad`` = ``"mean"``: d itself),
    and d is then clipped to ``max_norm`` (1.0, the official ``--max_norm``; 0 disables), the
    official ``clip_grad_norm_`` on the shared parameters after the update is written.

    Solver and deviations: the official code calls scipy's ``least_squares`` on the residual
    G w - w^(-1/alpha) with w >= 0 from w = 1/K on the CPU (tolerance 1e-8, in float32 G); we find
    the same point exactly as the minimiser of a strictly convex function by damped Newton steps
    in float64 on the gradients' device (:func:`~mtlbench.methods.solvers.alpha_fair_weights`;
    ``max_iter`` caps them). When no solution exists (a zero task gradient, gradients that cancel)
    or the solve does not converge, the weights fall back to 1/K (the mean gradient),
    ``info["fallback"]`` is 1 and a warning is logged. ``info``: the weights before the clip,
    Newton iterations, residual max_i |w_i^(1/alpha) (G w)_i - 1|, norm before the clip, clip factor.
    """

    paper = 'Ban & Ji, ICML 2024, "Fair Resource Allocation in Multi-Task Learning"'
    code = "github.com/OptMN-Lab/fairgrad (FairGrad in methods/weight_methods.py)"
    hparam_rules = rules(
        alpha=Range(0.0, strict=True),
        reduction=Choice(("sum", "mean")),
        max_norm=Range(0.0),
        max_iter=Range(1),
    )
    search_space = space(alpha=Dimension("log", 0.5, 5.0))

    def __init__(
        self, *, alpha: float = 1.0, reduction: str = "sum", max_norm: float = 1.0, max_iter: int = 50
    ) -> None:
        self.check_hparams(alpha=alpha, reduction=reduction, max_norm=max_norm, max_iter=max_iter)
        self.alpha = float(alpha)
        self.reduction = reduction
        self.max_norm = float(max_norm)
        self.max_iter = int(max_iter)

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        info: dict[str, Any] = {}
        if float(g.diagonal().max()) <= 0.0:  # every gradient is zero: d = 0 whatever the weights
            weights = torch.full((k,), 1.0 / k, dtype=g.dtype, device=g.device)
            info.update(iterations=0.0, residual=0.0, fallback=0.0, degenerate=1.0)
        else:
            solution = alpha_fair_weights(g, self.alpha, max_iter=self.max_iter)
            ok = solution.converged and bool(torch.isfinite(solution.x).all())
            weights = solution.x if ok else torch.full((k,), 1.0 / k, dtype=g.dtype, device=g.device)
            if not ok:
                log_fallback(
                    "fairgrad",
                    f"no w with (G w)_i = w_i^(-1/alpha) after {solution.iterations} Newton steps "
                    f"(residual {solution.residual:.3g})",
                    "uniform weights 1/K",
                )
            info.update(iterations=float(solution.iterations), residual=solution.residual, fallback=float(not ok))
        if self.reduction == "sum":
            weights = weights * k
        clipped, norm, factor = clip_weights(weights, g, self.max_norm)
        info.update(weights=to_list(weights), norm_before_clip=norm, clip_scale=factor)
        return clipped, info
