"""Dynamic Weight Average: task weights from the ratio of the last two epochs' losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mtlbench.methods.base import METHODS, LossWeightingMethod
from mtlbench.methods.hparams import Dimension, Range, rules, space


@METHODS.register("dwa")
class DynamicWeightAverage(LossWeightingMethod):
    """Dynamic Weight Average (Liu et al., CVPR 2019, MTAN).

    Official code: github.com/lorenmt/mtan. w_i = K softmax_i(r / T) with
    r_i = L_i(e-1) / L_i(e-2), the ratio of the last two epochs' mean training losses (the
    training loop passes them to ``end_epoch``); weights are 1 for the first two epochs.
    ``temperature`` T = 2. Same as the official code and LibMTL (the Nash-MTL repository's port
    averages over windows of iterations instead; not offered).
    """

    needs_losses = False
    paper = 'Liu et al., CVPR 2019, "End-to-End Multi-Task Learning with Attention" (MTAN)'
    code = "github.com/lorenmt/mtan"
    hparam_rules = rules(temperature=Range(0.0, strict=True))
    search_space = space(temperature=Dimension("uniform", 1.0, 4.0))
    state_attributes = ("history",)

    def __init__(self, *, temperature: float = 2.0) -> None:
        self.check_hparams(temperature=temperature)
        self.temperature = float(temperature)
        self.history: list[list[float]] = []

    def reset(self) -> None:
        self.history = []

    def end_epoch(self, mean_losses: Tensor | None = None) -> None:
        if mean_losses is not None:
            self.history.append([float(v) for v in mean_losses])

    def loss_weights(self, losses: Tensor) -> Tensor:
        k = losses.shape[0]
        if len(self.history) < 2:
            return torch.ones(k, dtype=losses.dtype, device=losses.device)
        last, before = (torch.tensor(h, dtype=losses.dtype, device=losses.device) for h in self.history[-2:][::-1])
        ratio = last / before.clamp_min(1e-12)
        return k * F.softmax(ratio / self.temperature, dim=0)
