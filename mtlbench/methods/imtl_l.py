"""IMTL-L: learnt loss scales that make every scaled task loss equal to 1."""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbench.methods._learned import LearnedScales
from mtlbench.methods.base import METHODS, LossWeightingMethod

IMTL_PAPER = 'Liu, Li, Kuang, Xue, Chen, Yang, Liao & Zhang, ICLR 2021, "Towards Impartial Multi-task Learning"'


@METHODS.register("imtl-l", aliases=("imtll", "imtl_l"))
class IMTLL(LearnedScales, LossWeightingMethod):
    """IMTL-L (Liu et al., ICLR 2021, "Towards Impartial Multi-task Learning"), the loss-balancing half.

    Loss sum_i (e^{s_i} L_i - s_i) with learnable log-scales s (0 at the start: the plain sum),
    trained by the run's optimiser (``extra_parameters``): its gradient e^{s_i} L_i - 1 drives
    every scaled loss e^{s_i} L_i towards 1. ``loss_weights`` reports e^{s_i}. The same as LibMTL's
    and torchjd's ``IMTLL``; it equals twice uncertainty weighting at -s (torchjd's remark), with
    another initialisation (0 here, -0.5 for ``uw``). The authors released no code. The weights do
    not depend on the loss values, so on a lone matrix (``combine("imtl-l", G)``) no losses are needed.
    """

    needs_losses = False
    paper = IMTL_PAPER
    code = "none released by the authors; torchjd IMTLL and LibMTL IMTL are the references"

    def _scales(self, losses: Tensor) -> torch.nn.Parameter:
        return self.scales_on(losses.shape[0], losses.device)

    def loss_weights(self, losses: Tensor) -> Tensor:
        return torch.exp(self._scales(losses).detach()).to(losses.dtype)

    def weighted_loss(self, losses: Tensor) -> Tensor:
        s = self._scales(losses)
        return (torch.exp(s) * losses - s).sum()
