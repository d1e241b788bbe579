"""GLS: the geometric mean of the task losses as the training objective."""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbench.errors import MtlbenchError
from mtlbench.methods.base import METHODS, LossWeightingMethod


@METHODS.register("gls", aliases=("geometric-mean", "geometricmean"))
class GeometricLossStrategy(LossWeightingMethod):
    """GLS, the geometric loss strategy (Chennupati et al., CVPR Workshops 2019, "MultiNet++").

    The objective is the geometric mean GM = (prod_i L_i)^(1/K), whose gradient is
    sum_i GM / (K L_i) grad L_i: linear scalarization with weights GM / (K L_i), which
    ``loss_weights`` reports and ``weighted_loss`` backpropagates (sum_i w_i L_i = GM, so the value
    and the gradient are the geometric mean's). The direction is that of weights 1 / (K L_i), the
    gradient of log GM = mean_i log L_i (tested); the factor GM sets its length. Computed in log
    space in float64 (LibMTL's and torchjd's ``GeometricMean`` take the product or exp-mean-log
    directly; same value). Losses must be non-negative; a zero loss makes GM 0 and every weight 0.
    """

    paper = (
        'Chennupati, Sistu, Yogamani & Rawashdeh, CVPR Workshops 2019, "MultiNet++: Multi-Stream Feature '
        'Aggregation and Geometric Loss Strategy for Multi-Task Learning"'
    )
    code = "none released by the authors; LibMTL GLS and torchjd GeometricMean are the references"

    def loss_weights(self, losses: Tensor) -> Tensor:
        values = losses.detach().to(torch.float64)
        if bool((values < 0).any()):
            shown = [round(float(v), 6) for v in values]
            raise MtlbenchError(f"gls: the geometric mean needs non-negative task losses; got {shown}")
        if not bool((values > 0).all()):
            return torch.zeros_like(losses)
        logs = torch.log(values)
        return (torch.exp(logs.mean() - logs) / values.shape[0]).to(losses.dtype)
