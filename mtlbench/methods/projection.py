"""Gradient-surgery methods that project conflicting task gradients."""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbench.methods.base import METHODS, Aggregation, Method


@METHODS.register("pcgrad")
class PCGrad(Method):
    """PCGrad (Yu et al., 2020, "Gradient Surgery for Multi-Task Learning").

    For each task i, start from g_i and, over the other tasks j in a random order,
    remove the component along the ORIGINAL g_j whenever the running g_i' conflicts
    with it (g_i' . g_j < 0). The update is the SUM of the projected gradients, as in
    the official code. The order is drawn from a generator seeded with ``seed``, so
    runs are repeatable; for K = 2 the result does not depend on the order.
    """

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)

    def reset(self) -> None:
        self._generator = torch.Generator().manual_seed(self.seed)

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        k = grads.shape[0]
        work = grads.to(torch.float64)
        gram = work @ work.T
        norms_sq = gram.diagonal().clamp_min(torch.finfo(torch.float64).tiny)
        # The projected g_i' stays in the span of the rows, so track its coefficients:
        # g_i' = c_i @ G. Dot products then need only the K x K Gram matrix.
        coeffs = torch.eye(k, dtype=torch.float64, device=grads.device)
        projections = 0
        for i in range(k):
            order = [j for j in torch.randperm(k, generator=self._generator).tolist() if j != i]
            for j in order:
                dot = coeffs[i] @ gram[:, j]
                if dot < 0:
                    coeffs[i, j] -= dot / norms_sq[j]
                    projections += 1
        weights = coeffs.sum(dim=0)
        direction = (weights.to(grads.dtype) @ grads)
        return Aggregation(direction=direction, weights=weights.to(grads.dtype), info={"projections": projections})
