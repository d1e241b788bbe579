"""Gradient surgery: methods that edit each task gradient against the others, then sum.

Both keep the edited g_i' as coefficients over the original rows (g_i' = c_i @ J), so every
dot product and norm comes from the K x K Gram matrix and the result is a weighted row sum.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mtlbench.methods._linalg import TINY, gram, to_list, weighted_sum
from mtlbench.methods.base import (
    METHODS,
    Aggregation,
    Method,
    check_choice,
    check_inputs,
    check_range,
    non_finite,
)


def _reduce(coeffs: Tensor, reduction: str) -> Tensor:
    weights = coeffs.sum(dim=0)
    return weights / coeffs.shape[0] if reduction == "mean" else weights


@METHODS.register("pcgrad")
class PCGrad(Method):
    """PCGrad (Yu et al., NeurIPS 2020, "Gradient Surgery for Multi-Task Learning").

    Official code: github.com/tianheyu927/PCGrad (TF); PyTorch: WeiChengTseng/Pytorch-PCGrad.
    For each task i, start from g_i and, over the other tasks j in a random order, remove the
    component along the ORIGINAL g_j whenever the running g_i' conflicts with it
    (g_i' . g_j < 0): g_i' -= (g_i' . g_j / |g_j|^2) g_j. The update is the SUM of the
    projected gradients (``reduction="sum"``, as the official code; ``"mean"`` divides by K as
    Nash-MTL's port optionally does).

    Deviations: the order is drawn from a generator seeded with ``seed`` (the official code
    uses Python's global ``random``), so runs are repeatable; ``reset()`` restarts it. The
    official PyTorch loop also visits j = i (a no-op unless g_i' has turned against g_i);
    like the paper and torchjd we skip it. For K = 2 the result does not depend on the order.
    """

    def __init__(self, *, reduction: str = "sum", seed: int = 0) -> None:
        check_choice("pcgrad", "reduction", reduction, ("sum", "mean"))
        self.reduction = reduction
        self.seed = int(seed)
        self._generator = torch.Generator().manual_seed(self.seed)

    def reset(self) -> None:
        self._generator = torch.Generator().manual_seed(self.seed)

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        k = check_inputs(grads, losses)
        g = gram(grads)
        if (bad := non_finite(grads, g)) is not None:
            return bad
        norms_sq = g.diagonal()
        coeffs = torch.eye(k, dtype=g.dtype, device=g.device)
        projections = 0
        for i in range(k):
            for j in torch.randperm(k, generator=self._generator).tolist():
                if j == i or float(norms_sq[j]) <= TINY:
                    continue
                dot = coeffs[i] @ g[:, j]
                if float(dot) < 0:
                    coeffs[i, j] -= dot / norms_sq[j]
                    projections += 1
        weights = _reduce(coeffs, self.reduction)
        return Aggregation(
            direction=weighted_sum(weights, grads),
            weights=weights.to(grads.dtype),
            info={"projections": float(projections)},
        )


@METHODS.register("gradvac")
class GradVac(Method):
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
    the paper's Algorithm 1 as we read it.

    Granularity: the whole shared trunk is ONE group (LibMTL ``GradVac_group_type = 0``,
    "whole_model"); the per-layer and per-matrix variants (types 1 and 2, one target per
    parameter block) are not offered. Deviations: LibMTL's port updates phi_hat only on the
    pairs it lifts (its EMA line sits inside the ``if``); we update it on every visited pair,
    as torchjd. The visiting order comes from a generator seeded with ``seed`` (LibMTL: Python's
    global ``random``); state (targets, generator) lives in the object and ``reset()`` clears it.
    ``info``: number of lifts and the targets phi_hat_ij (i != j, row-major) after the step.
    """

    def __init__(self, *, beta: float = 0.5, eps: float = 1e-8, reduction: str = "sum", seed: int = 0) -> None:
        check_range("gradvac", "beta", beta, low=0.0, high=1.0)
        check_range("gradvac", "eps", eps, low=0.0)
        check_choice("gradvac", "reduction", reduction, ("sum", "mean"))
        self.beta = float(beta)
        self.eps = float(eps)
        self.reduction = reduction
        self.seed = int(seed)
        self.reset()

    def reset(self) -> None:
        self._targets: Tensor | None = None
        self._generator = torch.Generator().manual_seed(self.seed)

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        k = check_inputs(grads, losses)
        g = gram(grads)
        if (bad := non_finite(grads, g)) is not None:
            return bad
        if self._targets is None or self._targets.shape[0] != k:
            self._targets = torch.zeros(k, k, dtype=torch.float64)
        targets = self._targets.to(g.device)
        norms = g.diagonal().clamp_min(0).sqrt()
        coeffs = torch.eye(k, dtype=g.dtype, device=g.device)
        lifts = 0
        for i in range(k):
            dots = coeffs[i] @ g  # g_i' . g_j for every j
            for j in torch.randperm(k, generator=self._generator).tolist():
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
        self._targets = targets.cpu()
        weights = _reduce(coeffs, self.reduction)
        return Aggregation(
            direction=weighted_sum(weights, grads),
            weights=weights.to(grads.dtype),
            info={"lifts": float(lifts), "targets": to_list(targets[~torch.eye(k, dtype=torch.bool)])},
        )
