"""Uncertainty weighting: learnable log-variances weight the task losses."""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbench.methods.base import METHODS, LossWeightingMethod
from mtlbench.methods.hparams import Range, rules


@METHODS.register("uw", aliases=("uncertainty",))
class UncertaintyWeighting(LossWeightingMethod):
    """Uncertainty weighting (Kendall et al., CVPR 2018), in LibMTL's form.

    Loss sum_i L_i / (2 exp(s_i)) + s_i / 2 with learnable log-variances s (initialised at
    ``init`` = -0.5 as LibMTL; the Nash-MTL repository's port starts at 0), trained by the same
    optimiser as the model (``extra_parameters``), weight decay included, as LibMTL. The same
    form for every task (the paper's 1/sigma^2 for classification losses is not used, as in
    LibMTL and the official ports). ``loss_weights`` reports 1 / (2 exp(s_i)). The weights do
    not depend on the loss values, so on a lone matrix (``combine("uw", G)``) no losses are needed.
    """

    needs_losses = False
    paper = (
        'Kendall et al., CVPR 2018, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene Geometry '
        'and Semantics"'
    )
    code = "none released by the authors; LibMTL UW is the reference"
    hparam_rules = rules(init=Range())
    state_attributes = ("log_vars",)

    def __init__(self, *, init: float = -0.5) -> None:
        self.check_hparams(init=init)
        self.init = float(init)
        self.log_vars: torch.nn.Parameter | None = None

    def setup(self, n_tasks: int) -> None:
        if self.log_vars is None or self.log_vars.shape[0] != n_tasks:
            self.log_vars = torch.nn.Parameter(torch.full((n_tasks,), self.init))

    def extra_parameters(self) -> list[torch.nn.Parameter]:
        return [self.log_vars] if self.log_vars is not None else []

    def _vars(self, losses: Tensor) -> Tensor:
        if self.log_vars is None:
            self.setup(losses.shape[0])
        assert self.log_vars is not None
        if self.log_vars.device != losses.device:
            self.log_vars.data = self.log_vars.data.to(losses.device)
        return self.log_vars

    def loss_weights(self, losses: Tensor) -> Tensor:
        return (0.5 * torch.exp(-self._vars(losses).detach())).to(losses.dtype)

    def weighted_loss(self, losses: Tensor) -> Tensor:
        s = self._vars(losses)
        return (losses / (2 * torch.exp(s)) + s / 2).sum()
