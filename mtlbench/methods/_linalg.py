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


def project_to_simplex(v: Tensor) -> Tensor:
    """The Euclidean projection of ``v`` [K] onto the probability simplex (exact, sort-based).

    With u sorted in decreasing order and c its cumulative sums, rho is the last index j with
    u_j > (c_j - 1) / j and the projection is max(v - (c_rho - 1) / rho, 0) (Held, Wolfe and Crowder
    1974; the projection SDMGrad, MoDo and MoCo use).
    """
    v = v - v.max()  # the projection ignores a common shift; this keeps u_1 > c_1 exact for huge v
    u = torch.sort(v, descending=True).values
    cumulative = torch.cumsum(u, dim=0) - 1
    ranks = torch.arange(1, v.shape[0] + 1, dtype=v.dtype, device=v.device)
    rho = int(torch.nonzero(u * ranks > cumulative).max())
    return (v - cumulative[rho] / (rho + 1)).clamp_min(0)


def clip_weights(weights: Tensor, g: Tensor, max_norm: float) -> tuple[Tensor, float, float]:
    """Weights scaled so that |J^T w| <= ``max_norm`` (0: no cap), from G alone; and |J^T w| and the factor.

    The official code of Nash-MTL, FairGrad and SDMGrad clips the shared parameters' gradient,
    which is exactly the direction, to ``max_norm`` after the backward pass.
    """
    norm = math.sqrt(max(float(weights @ g @ weights), 0.0))
    factor = max_norm / norm if max_norm > 0 and math.isfinite(norm) and norm > max_norm else 1.0
    return weights * factor, norm, factor
