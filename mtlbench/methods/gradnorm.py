"""GradNorm: learnt task weights that balance the tasks' weighted gradient norms."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._learned import LearnedScales, add_grad
from mtlbench.methods._linalg import TINY, to_list
from mtlbench.methods.base import METHODS, GramianMethod
from mtlbench.methods.hparams import Dimension, Range, rules, space


@METHODS.register("gradnorm")
class GradNorm(LearnedScales, GramianMethod):
    """GradNorm (Chen et al., ICML 2018): learnt task weights that balance the gradient norms.

    Task weights w_i, learnt by the run's optimiser, make the weighted gradient norms
    G_i = w_i |g_i| track their mean times the relative inverse training rate:
    L_grad = sum_i |G_i - mean_j G_j * r_i^alpha| with r_i = L~_i / mean_j L~_j,
    L~_i = L_i(t) / L_i(0), the target held constant (the paper's Eq. 2); the update is
    d = sum_i w_i g_i with this step's weights (before they learn from this step). ``alpha`` = 1.5
    (the paper's NYUv2 setting, LibMTL's default). The weights are w = K softmax(s) with learnable
    s (0 at the start: every weight 1), LibMTL's parameterisation of the paper's "renormalise
    so that sum_i w_i = K" (it also keeps them positive). ``aggregate`` writes dL_grad/ds into
    s's ``.grad``; the run's optimiser (``extra_parameters``) applies it, weight decay included,
    as LibMTL's single optimiser does.

    Conventions and deviations: the norms are those of the gradients over ALL shared parameters
    (LibMTL; the paper takes the last shared layer only, to save time, but mtlbench's engine has
    the full rows anyway); L_i(0) is the first step's loss (the paper; LibMTL uses the first
    epoch's mean and trains epoch 0 with weights 1). The official code was not released.
    ``info``: the weights, the weighted norms G_i and L_grad.
    """

    needs_losses = True
    paper = (
        'Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018, "GradNorm: Gradient Normalization for '
        'Adaptive Loss Balancing in Deep Multitask Networks"'
    )
    code = "none released by the authors; LibMTL GradNorm is the reference"
    hparam_rules = rules(alpha=Range(0.0))
    search_space = space(alpha=Dimension("uniform", 0.0, 3.0))
    state_attributes = ("initial_losses",)

    def __init__(self, *, alpha: float = 1.5) -> None:
        self.check_hparams(alpha=alpha)
        self.alpha = float(alpha)
        self.initial_losses: Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.initial_losses = None

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        assert losses is not None
        k = g.shape[0]
        scales = self.scales_on(k, g.device)
        current = losses.detach().to(device=g.device, dtype=g.dtype)
        if self.initial_losses is None or self.initial_losses.shape != (k,):
            self.initial_losses = current.cpu()
        rates = current / self.initial_losses.to(g.device).clamp_min(TINY)
        relative = rates / rates.mean().clamp_min(TINY)
        norms = g.diagonal().clamp_min(0).sqrt()
        with torch.enable_grad():
            weights = k * torch.softmax(scales.to(g.dtype), dim=0)
            weighted_norms = weights * norms
            target = (weighted_norms.mean() * relative.pow(self.alpha)).detach()
            balance = (weighted_norms - target).abs().sum()
            (grad,) = torch.autograd.grad(balance, scales)
        add_grad(scales, grad)
        weights = weights.detach()
        info = {"weights": to_list(weights), "weighted_norms": to_list(weighted_norms.detach())}
        return weights, info | {"balance_loss": float(balance.detach())}
