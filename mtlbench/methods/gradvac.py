"""GradVac: lift each pair of task gradients towards an EMA of their past cosine."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import reduce_rows, to_list
from mtlbench.methods.base import METHODS, GramianMethod, RandomMethod
from mtlbench.methods.hparams import Choice, Described, Dimension, Range, rules, space


@METHODS.register("gradvac")
class GradVac(RandomMethod, GramianMethod):
    """GradVac (Wang et al., ICLR 2021): lift each pair's cosine towards an EMA of its past values.

    "Gradient Vaccine: Investigating and Improving Multi-task Optimization in Massively
    Multilingual Models".

    The authors released no code. For each task i and the other tasks j in a random order,
    with phi = cos(g_i', g_j) (g_i' the running edited row, g_j the ORIGINAL row) and the EMA
    target phi_hat_ij, if phi < phi_hat_ij then
    g_i' += g_j * |g_i'| (phi_hat sqrt(1 - phi^2) - phi sqrt(1 - phi_hat^2)) / (|g_j| sqrt(1 - phi_hat^2));
    after every visited pair phi_hat_ij <- (1 - beta) phi_hat_ij + beta phi. Targets start at
    0; ``beta`` = 0.5 (LibMTL's and torchjd's default; the paper's experiments used 1e-2).
    Update = SUM of the edited rows (``reduction``; ``"mean"`` divides by K). ``eps`` (1e-8)
    guards the denominators, as LibMTL and torchjd. This is torchjd's ``GradVac`` exactly and
    the paper's Algorithm 1 as we read it. The edited rows are kept as coefficients over the
    original rows, so every dot product comes from the Gram matrix.

    Granularity: the whole shared trunk is ONE group (LibMTL ``GradVac_group_type = 0``,
    "whole_model"); the per-layer and per-matrix variants (types 1 and 2, one target per
    parameter block) are not offered. Deviations: LibMTL's port updates phi_hat only on the
    pairs it lifts (its EMA line sits inside the ``if``); we update it on every visited pair,
    as torchjd. The visiting order comes from the method's own generator, seeded from the run's
    seed (:class:`RandomMethod`; LibMTL: Python's global ``random``); the targets and the
    generator are the method's state and ``reset()`` clears them.
    ``info``: number of lifts and the targets phi_hat_ij (i != j, row-major) after the step.
    """

    paper = (
        'Wang et al., ICLR 2021, "Gradient Vaccine: Investigating and Improving Multi-task Optimization '
        'in Massively Multilingual Models"'
    )
    code = "none released; torchjd GradVac and LibMTL GradVac are the references"
    hparam_rules = rules(
        beta=Range(0.0, 1.0),
        eps=Range(0.0),
        reduction=Choice(("sum", "mean")),
        seed=Described("an integer to fix the task order's stream in every replicate; None: the run's seed"),
    )
    search_space = space(beta=Dimension("log", 1e-3, 0.5))
    state_attributes = ("targets",)

    def __init__(
        self, *, beta: float = 0.5, eps: float = 1e-8, reduction: str = "sum", seed: int | None = None
    ) -> None:
        self.check_hparams(beta=beta, eps=eps, reduction=reduction)
        self.beta = float(beta)
        self.eps = float(eps)
        self.reduction = reduction
        self.targets: Tensor | None = None
        self.init_random(seed)

    def reset(self) -> None:
        self.targets = None
        super().reset()

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        if self.targets is None or self.targets.shape[0] != k:
            self.targets = torch.zeros(k, k, dtype=torch.float64)
        targets = self.targets.to(g.device)
        norms = g.diagonal().clamp_min(0).sqrt()
        coeffs = torch.eye(k, dtype=g.dtype, device=g.device)
        lifts = 0
        for i in range(k):
            dots = coeffs[i] @ g  # g_i' . g_j for every j
            for j in torch.randperm(k, generator=self.generator).tolist():
                if j == i:
                    continue
                norm_i = math.sqrt(max(float(dots @ coeffs[i]), 0.0))
                phi = float(dots[j]) / (norm_i * float(norms[j]) + self.eps)
                target = float(targets[i, j])
                if phi < target:
                    root_phi = math.sqrt(max(1.0 - phi * phi, 0.0))
                    root_target = math.sqrt(max(1.0 - target * target, 0.0))
                    lift = norm_i * (target * root_phi - phi * root_target) / (float(norms[j]) * root_target + self.eps)
                    coeffs[i, j] += lift
                    dots = dots + lift * g[j]
                    lifts += 1
                targets[i, j] = (1 - self.beta) * target + self.beta * phi
        self.targets = targets.cpu()
        info = {"lifts": float(lifts), "targets": to_list(targets[~torch.eye(k, dtype=torch.bool)])}
        return reduce_rows(coeffs, self.reduction), info
