"""Random loss weighting: fresh random task weights every step."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mtlbench.methods.base import METHODS, LossWeightingMethod, RandomMethod
from mtlbench.methods.hparams import Described, rules


@METHODS.register("rlw")
class RandomLossWeighting(RandomMethod, LossWeightingMethod):
    """Random loss weighting (Lin et al., TMLR 2022): weights softmax(z), z ~ N(0, I) each step.

    Drawn from the method's own generator, seeded from the run's seed (:class:`RandomMethod`),
    so replicate seeds draw different weights and a seed reproduces them; the weights sum to 1,
    as LibMTL.
    """

    needs_losses = False
    paper = 'Lin et al., TMLR 2022, "Reasonable Effectiveness of Random Weighting: A Litmus Test for MTL"'
    code = "github.com/median-research-group/LibMTL (RLW)"
    hparam_rules = rules(
        seed=Described("an integer to fix the weights' stream in every replicate; None: the run's seed")
    )
    state_attributes = ("current",)

    def __init__(self, *, seed: int | None = None) -> None:
        self.current: Tensor | None = None
        self.init_random(seed)

    def reset(self) -> None:
        self.current = None
        super().reset()

    def loss_weights(self, losses: Tensor) -> Tensor:
        if self.current is None or self.current.shape[0] != losses.shape[0]:
            self._draw(losses.shape[0])
        assert self.current is not None
        return self.current.to(dtype=losses.dtype, device=losses.device)

    def _draw(self, k: int) -> None:
        self.current = F.softmax(torch.randn(k, generator=self.generator, dtype=torch.float64), dim=0)

    def weighted_loss(self, losses: Tensor) -> Tensor:
        self._draw(losses.shape[0])  # a fresh draw for every training step
        return (self.loss_weights(losses.detach()) * losses).sum()
