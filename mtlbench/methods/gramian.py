"""Methods whose weights follow from the Gram matrix alone: IMTL-G, UPGrad, Aligned-MTL, ConFIG.

Each computes K weights from G = J J^T (float64, K x K, on the gradients' device) and returns
d = sum_i w_i g_i, so the K x P matrix is touched only to build G and to form d.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbench.methods._linalg import TINY, gram, to_list, weighted_sum
from mtlbench.methods.base import METHODS, Aggregation, Method, check_choice, check_inputs, non_finite
from mtlbench.methods.solvers import nonneg_quadratic


def _result(weights: Tensor, grads: Tensor, info: dict) -> Aggregation:
    info = {"weights": to_list(weights), **info}
    return Aggregation(direction=weighted_sum(weights, grads), weights=weights.to(grads.dtype), info=info)


@METHODS.register("imtl-g", aliases=("imtlg", "imtl_g"))
class IMTLG(Method):
    """IMTL-G (Liu et al., ICLR 2021, "Towards Impartial Multi-task Learning"), gradient part.

    The update has equal projections on every task's unit gradient and weights summing to 1.
    The paper's closed form alpha_{2:K} = g_1 U^T (D U^T)^{-1} equals w = G^+ n / (1^T G^+ n)
    with n_i = |g_i| (u_i . d = (G w)_i / n_i is then the same for every i), which is what is
    computed here, with a pseudo-inverse for singular G (LibMTL and torchjd do the same). A
    zero task gradient or 1^T G^+ n = 0 gives zero weights (``info["degenerate"]``).
    """

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        check_inputs(grads, losses)
        g = gram(grads)
        if (bad := non_finite(grads, g)) is not None:
            return bad
        norms = g.diagonal().clamp_min(0).sqrt()
        raw = torch.linalg.pinv(g, hermitian=True) @ norms
        total = float(raw.sum())
        if not torch.isfinite(raw).all() or abs(total) <= TINY or bool((norms <= 0).any()):
            return _result(torch.zeros_like(norms), grads, {"degenerate": 1.0})
        return _result(raw / total, grads, {"degenerate": 0.0})


@METHODS.register("upgrad")
class UPGrad(Method):
    """UPGrad (Quinton and Rey, 2024, "Jacobian Descent for Multi-Objective Optimization"; torchjd).

    Every task gradient is projected onto the dual cone {x : G x >= 0} of the rows, and the
    projections are averaged: d = sum_i p_i J^T lambda_i with lambda_i = argmin_{v >= e_i} v^T G v
    (a non-negative least-squares problem in Gram form, solved by an active-set method in float64)
    and preferences p = 1/K (``reduction="mean"``, torchjd's default) or 1 (``"sum"``). Deviation
    from torchjd: no ``reg_eps`` ridge on G and no trace normalisation; exact solves instead.
    The update never conflicts with any task: G w >= 0.
    """

    def __init__(self, *, reduction: str = "mean") -> None:
        check_choice("upgrad", "reduction", reduction, ("mean", "sum"))
        self.reduction = reduction

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        k = check_inputs(grads, losses)
        g = gram(grads)
        if (bad := non_finite(grads, g)) is not None:
            return bad
        scale = float(g.diagonal().max())
        if not scale > TINY:
            return _result(torch.zeros(k, dtype=g.dtype, device=g.device), grads, {"degenerate": 1.0})
        g_n = g / scale
        weights = torch.zeros(k, dtype=g.dtype, device=g.device)
        worst = 0.0
        for i in range(k):
            solution = nonneg_quadratic(g_n, g_n[:, i])
            weights += solution.x
            weights[i] += 1.0
            worst = max(worst, solution.residual)
        weights = weights / k if self.reduction == "mean" else weights
        return _result(weights, grads, {"kkt_residual": worst})


@METHODS.register("aligned-mtl", aliases=("alignedmtl", "aligned_mtl"))
class AlignedMTL(Method):
    """Aligned-MTL (Senushkin et al., CVPR 2023, "Independent Component Alignment for MTL").

    Official code: github.com/SamsungLabs/MTL (``ProcrustesSolver`` in code/optim/aligned). The
    gradient system is made orthogonal with equal singular values: with G = V L V^T (rank r after
    dropping eigenvalues below max(L) * K * eps, as the official code), B = sqrt(s) V L^{-1/2} V^T
    and w = B p. ``scale_mode`` picks s: ``"min"`` the smallest kept eigenvalue (default, the
    paper), ``"median"`` their median, ``"rmse"`` their mean (the official options). The
    official code (and LibMTL) use p = 1 (``reduction="sum"``, default); torchjd uses p = 1/K
    (``"mean"``). Deviations: eps is float64's (the official code takes float32's while its G is
    float32 too); an all-zero G gives zero weights (torchjd: the identity, the same zero update).
    """

    def __init__(self, *, reduction: str = "sum", scale_mode: str = "min") -> None:
        check_choice("aligned-mtl", "reduction", reduction, ("sum", "mean"))
        check_choice("aligned-mtl", "scale_mode", scale_mode, ("min", "median", "rmse"))
        self.reduction = reduction
        self.scale_mode = scale_mode

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        k = check_inputs(grads, losses)
        g = gram(grads)
        if (bad := non_finite(grads, g)) is not None:
            return bad
        values, vectors = torch.linalg.eigh(g)
        tol = float(values.max()) * k * torch.finfo(g.dtype).eps
        keep = values > tol
        if not bool(keep.any()):
            return _result(torch.zeros(k, dtype=g.dtype, device=g.device), grads, {"rank": 0.0})
        values, vectors = values[keep], vectors[:, keep]
        # torch.median takes the lower middle value for an even count, as the official code
        scale = {"min": values.min(), "median": values.median(), "rmse": values.mean()}[self.scale_mode]
        basis = scale.sqrt() * vectors @ torch.diag(values.rsqrt()) @ vectors.T
        preference = torch.full((k,), 1.0 if self.reduction == "sum" else 1.0 / k, dtype=g.dtype, device=g.device)
        return _result(basis @ preference, grads, {"rank": float(keep.sum())})


@METHODS.register("config")
class ConFIG(Method):
    """ConFIG (Liu et al., ICLR 2025, "Conflict-Free Inverse Gradients Method").

    The direction solves U d = 1 for the unit task gradients U (least squares, pseudo-inverse),
    normalised, then scaled by the sum of the task gradients' projections on it:
    d = (sum_i g_i . d_u / |d_u|) d_u / |d_u|. In Gram form with C the cosine matrix and n the
    norms: w_raw = diag(1/n) C^+ 1, d_u = J^T w_raw. Every task sees a positive projection when
    C is invertible. A zero task gradient gives d = 0 (``info["degenerate"]``).
    """

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        k = check_inputs(grads, losses)
        g = gram(grads)
        if (bad := non_finite(grads, g)) is not None:
            return bad
        norms = g.diagonal().clamp_min(0).sqrt()
        if bool((norms <= TINY**0.5).any()):
            return _result(torch.zeros(k, dtype=g.dtype, device=g.device), grads, {"degenerate": 1.0})
        cosine = g / (norms[:, None] * norms[None, :])
        raw = (torch.linalg.pinv(cosine, hermitian=True) @ torch.ones(k, dtype=g.dtype, device=g.device)) / norms
        length_sq = float(raw @ g @ raw)
        if not length_sq > 0:
            return _result(torch.zeros(k, dtype=g.dtype, device=g.device), grads, {"degenerate": 1.0})
        magnitude = float((g @ raw).sum()) / length_sq
        return _result(raw * magnitude, grads, {"degenerate": 0.0})
