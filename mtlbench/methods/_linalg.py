"""Small linear-algebra helpers shared by the methods: the float64 Gram matrix and row sums.

Every solver here works on the K x K Gram matrix G = J J^T, in float64, on the device of
the gradients; the K x P matrix is only touched to build G and to form the final sum.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

GRAM_CHUNK = 1 << 22
"""Columns per float64 block when building G from a lower-precision J (bounds the extra memory)."""

TINY = 1e-300
"""Below this a float64 squared norm counts as zero (the tests scale gradients down to 1e-10)."""


def gram(grads: Tensor) -> Tensor:
    """G = J J^T in float64 on J's device, accumulated over column blocks (no K x P float64 copy)."""
    k, p = grads.shape
    if grads.dtype == torch.float64:
        out = grads @ grads.T
    else:
        out = torch.zeros(k, k, dtype=torch.float64, device=grads.device)
        for start in range(0, p, GRAM_CHUNK):
            block = grads[:, start : start + GRAM_CHUNK].to(torch.float64)
            out += block @ block.T
    return (out + out.T) / 2


def weighted_sum(weights: Tensor, grads: Tensor) -> Tensor:
    """sum_i weights_i g_i in the gradients' dtype and device."""
    return weights.to(device=grads.device, dtype=grads.dtype) @ grads


def normalized(g: Tensor) -> tuple[Tensor, float]:
    """G over its largest diagonal entry, for scale-free solvers, and that scale (0: zero G; NaN/inf: bad G)."""
    scale = float(g.diagonal().max())
    if not math.isfinite(scale):
        return g, scale
    if scale <= TINY:
        return g, 0.0
    return g / scale, scale


def cosine_matrix(g: Tensor) -> Tensor:
    """cos(g_i, g_j) from G; rows of zero norm get zero cosines."""
    norms = g.diagonal().clamp_min(0).sqrt()
    inv = torch.where(norms > 0, 1 / norms.clamp_min(TINY), torch.zeros_like(norms))
    return g * inv[:, None] * inv[None, :]


def solve_small(matrix: Tensor, rhs: Tensor) -> Tensor:
    """Solve a small square system; fall back to the pseudo-inverse when it is singular."""
    sol, info = torch.linalg.solve_ex(matrix, rhs)
    if int(info) != 0 or not bool(torch.isfinite(sol).all()):
        sol = torch.linalg.pinv(matrix) @ rhs
    return sol


def to_list(t: Tensor) -> list[float]:
    """A short tensor as plain floats for the training log."""
    return [float(x) for x in t.detach().to("cpu", torch.float64).tolist()]


def reduce_rows(coeffs: Tensor, reduction: str) -> Tensor:
    """Weights of the sum (or, with ``"mean"``, the mean) of edited rows ``coeffs @ J`` over the original rows."""
    weights = coeffs.sum(dim=0)
    return weights / coeffs.shape[0] if reduction == "mean" else weights
