"""IMTL-G: the update with equal projections on every task's unit gradient."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import TINY, to_list
from mtlbench.methods.base import METHODS, GramianMethod


@METHODS.register("imtl-g", aliases=("imtlg", "imtl_g"))
class IMTLG(GramianMethod):
    """IMTL-G (Liu et al., ICLR 2021, "Towards Impartial Multi-task Learning"), gradient part.

    The update has equal projections on every task's unit gradient and weights summing to 1.
    The paper's closed form alpha_{2:K} = g_1 U^T (D U^T)^{-1} equals w = G^+ n / (1^T G^+ n)
    with n_i = |g_i| (u_i . d = (G w)_i / n_i is then the same for every i), which is what is
    computed here, with a pseudo-inverse for singular G (LibMTL and torchjd do the same). A
    zero task gradient or 1^T G^+ n = 0 gives zero weights (``info["degenerate"]``).
    """

    paper = 'Liu et al., ICLR 2021, "Towards Impartial Multi-task Learning"'
    code = "none released by the authors; LibMTL IMTL and torchjd IMTLG are the references"

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        weights = impartial_weights(g)
        return weights, {"weights": to_list(weights), "degenerate": float(not bool(weights.any()))}


def impartial_weights(g: Tensor) -> Tensor:
    """IMTL-G's weights w = G^+ n / (1^T G^+ n) from the Gram matrix; zeros when degenerate."""
    norms = g.diagonal().clamp_min(0).sqrt()
    raw = torch.linalg.pinv(g, hermitian=True) @ norms
    total = float(raw.sum())
    if not torch.isfinite(raw).all() or abs(total) <= TINY or bool((norms <= 0).any()):
        return torch.zeros_like(norms)
    return raw / total
