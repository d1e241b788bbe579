"""ConFIG: the conflict-free direction with equal cosines to every task (the method, not settings)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import TINY, to_list
from mtlbench.methods.base import METHODS, GramianMethod


@METHODS.register("config")
class ConFIG(GramianMethod):
    """ConFIG (Liu et al., ICLR 2025, "Conflict-Free Inverse Gradients Method").

    The direction solves U d = 1 for the unit task gradients U (least squares, pseudo-inverse),
    normalised, then scaled by the sum of the task gradients' projections on it:
    d = (sum_i g_i . d_u / |d_u|) d_u / |d_u|. In Gram form with C the cosine matrix and n the
    norms: w_raw = diag(1/n) C^+ 1, d_u = J^T w_raw. Every task sees a positive projection when
    C is invertible. A zero task gradient gives d = 0 (``info["degenerate"]``).
    """

    paper = 'Liu et al., ICLR 2025, "ConFIG: Towards Conflict-free Training of Physics Informed Neural Networks"'
    code = "github.com/tum-pbs/ConFIG"

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        zeros = torch.zeros(k, dtype=g.dtype, device=g.device)
        norms = g.diagonal().clamp_min(0).sqrt()
        if bool((norms <= TINY**0.5).any()):
            return zeros, {"weights": to_list(zeros), "degenerate": 1.0}
        cosine = g / (norms[:, None] * norms[None, :])
        raw = (torch.linalg.pinv(cosine, hermitian=True) @ torch.ones(k, dtype=g.dtype, device=g.device)) / norms
        length_sq = float(raw @ g @ raw)
        if not length_sq > 0:
            return zeros, {"weights": to_list(zeros), "degenerate": 1.0}
        magnitude = float((g @ raw).sum()) / length_sq
        weights = raw * magnitude
        return weights, {"weights": to_list(weights), "degenerate": 0.0}
