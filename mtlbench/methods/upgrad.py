"""UPGrad: every task gradient projected onto the dual cone of the rows, then averaged."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import TINY, to_list
from mtlbench.methods.base import METHODS, GramianMethod
from mtlbench.methods.hparams import Choice, rules
from mtlbench.methods.solvers import dual_cone_weights


@METHODS.register("upgrad")
class UPGrad(GramianMethod):
    """UPGrad (Quinton and Rey, 2024, "Jacobian Descent for Multi-Objective Optimization"; torchjd).

    Every task gradient is projected onto the dual cone {x : G x >= 0} of the rows, and the
    projections are averaged: d = sum_i p_i J^T lambda_i with lambda_i = argmin_{v >= e_i} v^T G v
    (a non-negative least-squares problem in Gram form, solved by an active-set method in float64)
    and preferences p = 1/K (``reduction="mean"``, torchjd's default) or 1 (``"sum"``). Deviation
    from torchjd: no ``reg_eps`` ridge on G and no trace normalisation; exact solves instead.
    The update never conflicts with any task: G w >= 0.
    """

    paper = 'Quinton and Rey, 2024, "Jacobian Descent for Multi-Objective Optimization"'
    code = "github.com/TorchJD/torchjd (UPGrad)"
    hparam_rules = rules(reduction=Choice(("mean", "sum")))

    def __init__(self, *, reduction: str = "mean") -> None:
        self.check_hparams(reduction=reduction)
        self.reduction = reduction

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        scale = float(g.diagonal().max())
        if not scale > TINY:
            weights = torch.zeros(k, dtype=g.dtype, device=g.device)
            return weights, {"weights": to_list(weights), "degenerate": 1.0}
        g_n = g / scale
        weights = torch.zeros(k, dtype=g.dtype, device=g.device)
        worst = 0.0
        for row in torch.eye(k, dtype=g.dtype, device=g.device):
            solution = dual_cone_weights(g_n, row)
            weights += solution.x
            worst = max(worst, solution.residual)
        weights = weights / k if self.reduction == "mean" else weights
        return weights, {"weights": to_list(weights), "kkt_residual": worst}
