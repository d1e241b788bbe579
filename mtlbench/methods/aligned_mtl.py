"""Aligned-MTL: the gradient system made orthogonal with equal singular values."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import to_list
from mtlbench.methods.base import METHODS, GramianMethod
from mtlbench.methods.hparams import Choice, rules


@METHODS.register("aligned-mtl", aliases=("alignedmtl", "aligned_mtl"))
class AlignedMTL(GramianMethod):
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

    paper = 'Senushkin et al., CVPR 2023, "Independent Component Alignment for Multi-Task Learning"'
    code = "github.com/SamsungLabs/MTL (ProcrustesSolver)"
    hparam_rules = rules(reduction=Choice(("sum", "mean")), scale_mode=Choice(("min", "median", "rmse")))

    def __init__(self, *, reduction: str = "sum", scale_mode: str = "min") -> None:
        self.check_hparams(reduction=reduction, scale_mode=scale_mode)
        self.reduction = reduction
        self.scale_mode = scale_mode

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        values, vectors = torch.linalg.eigh(g)
        tol = float(values.max()) * k * torch.finfo(g.dtype).eps
        keep = values > tol
        if not bool(keep.any()):
            weights = torch.zeros(k, dtype=g.dtype, device=g.device)
            return weights, {"weights": to_list(weights), "rank": 0.0}
        values, vectors = values[keep], vectors[:, keep]
        # torch.median takes the lower middle value for an even count, as the official code
        scale = {"min": values.min(), "median": values.median(), "rmse": values.mean()}[self.scale_mode]
        basis = scale.sqrt() * vectors @ torch.diag(values.rsqrt()) @ vectors.T
        preference = torch.full((k,), 1.0 if self.reduction == "sum" else 1.0 / k, dtype=g.dtype, device=g.device)
        weights = basis @ preference
        return weights, {"weights": to_list(weights), "rank": float(keep.sum())}
