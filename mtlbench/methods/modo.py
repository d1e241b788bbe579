"""MoDo: MGDA's weights followed by one projected-gradient step per training step."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import project_to_simplex, to_list
from mtlbench.methods.base import METHODS, GramianMethod
from mtlbench.methods.hparams import Choice, Dimension, Range, rules, space


@METHODS.register("modo")
class MoDo(GramianMethod):
    """MoDo (Chen et al., NeurIPS 2023, "Three-Way Trade-Off in Multi-Objective Learning").

    Official code: github.com/heshandevaka/Trade-Off-MOL (``MoDo`` in LibMTL/LibMTL/weighting).
    The weights lambda on the simplex (uniform at the start and after ``reset()``; the method's
    state) take ONE projected gradient step per training step on 1/2 |J^T lambda|^2 + rho/2 |lambda|^2:
    lambda <- Proj_simplex(lambda - gamma (G lambda + rho lambda)), exact Euclidean projection;
    then d = J^T lambda. Defaults ``gamma`` = 0.1 and ``rho`` = 0.1, the official ones (and
    torchjd's; LibMTL's documentation says gamma 0.001). lambda sums to 1 (``reduction="mean"``,
    the paper's Eq. 2.9b and the official code); ``"sum"`` multiplies d by K. G is used in its
    raw units, as the official code: gamma's effect depends on the gradients' scale.

    Deviation, double sampling: MoDo's guarantee needs G = J_1 J_2^T from two independent
    mini-batches (and the official code updates the model with the sum of both batches'
    gradients). mtlbench takes one mini-batch per step, so G is the step's own Gram matrix: the
    same cost as every other gradient method, a biased estimate that torchjd's documentation
    warns about. ``info``: lambda after the step.
    """

    paper = (
        'Chen, Fernando, Ying & Chen, NeurIPS 2023, "Three-Way Trade-Off in Multi-Objective Learning: '
        'Optimization, Generalization and Conflict-Avoidance"'
    )
    code = "github.com/heshandevaka/Trade-Off-MOL (MoDo in LibMTL/LibMTL/weighting)"
    hparam_rules = rules(gamma=Range(0.0, strict=True), rho=Range(0.0), reduction=Choice(("mean", "sum")))
    search_space = space(gamma=Dimension("log", 1e-3, 1.0), rho=Dimension("log", 1e-3, 1.0))
    state_attributes = ("lambd",)

    def __init__(self, *, gamma: float = 0.1, rho: float = 0.1, reduction: str = "mean") -> None:
        self.check_hparams(gamma=gamma, rho=rho, reduction=reduction)
        self.gamma = float(gamma)
        self.rho = float(rho)
        self.reduction = reduction
        self.lambd: Tensor | None = None

    def reset(self) -> None:
        self.lambd = None

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        if self.lambd is None or self.lambd.shape[0] != k:
            lambd = torch.full((k,), 1.0 / k, dtype=g.dtype, device=g.device)
        else:
            lambd = self.lambd.to(device=g.device, dtype=g.dtype)
        lambd = project_to_simplex(lambd - self.gamma * (g @ lambd + self.rho * lambd))
        self.lambd = lambd.cpu()
        return lambd * (k if self.reduction == "sum" else 1), {"lambda": to_list(lambd)}
