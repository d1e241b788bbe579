"""IMTL: impartial gradients (IMTL-G) of the impartially scaled losses (IMTL-L)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._learned import LearnedScales, add_grad
from mtlbench.methods._linalg import to_list
from mtlbench.methods.base import METHODS, GramianMethod
from mtlbench.methods.imtl_g import impartial_weights
from mtlbench.methods.imtl_l import IMTL_PAPER


@METHODS.register("imtl")
class IMTL(LearnedScales, GramianMethod):
    """IMTL (Liu et al., ICLR 2021, "Towards Impartial Multi-task Learning"), the hybrid of both halves.

    The paper's full method (its Algorithm 1; LibMTL's ``IMTL``): the losses are scaled as in
    IMTL-L, L'_i = e^{s_i} L_i - s_i, and IMTL-G combines the gradients of the scaled losses,
    g'_i = e^{s_i} g_i: with D = diag(e^s), IMTL-G's weights a of the Gram matrix D G D (equal
    projections of the update on every unit g'_i, sum_i a_i = 1) give d = sum_i a_i e^{s_i} g_i, so
    the weights over the raw rows are a_i e^{s_i}. The log-scales s (0 at the start) learn from
    the scaled losses themselves, dL'_i/ds_i = e^{s_i} L_i - 1, which ``aggregate`` writes into their
    ``.grad`` for the run's optimiser (``extra_parameters``), as LibMTL's per-task backward passes
    accumulate it. Degenerate G (a zero gradient, a singular system) gives zero weights, as ``imtl-g``.

    Deviation: LibMTL backpropagates the scaled losses into the task heads; in mtlbench every head
    gets the plain gradient of its own loss under every gradient method. ``info``: the weights, the
    scales e^s and IMTL-G's weights a.
    """

    needs_losses = True
    paper = IMTL_PAPER
    code = "none released by the authors; LibMTL IMTL is the reference"

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        assert losses is not None
        s = self.scales_on(g.shape[0], g.device)
        scales = torch.exp(s.detach().to(g.dtype))
        impartial = impartial_weights(g * scales[:, None] * scales[None, :])
        add_grad(s, scales * losses.detach().to(device=g.device, dtype=g.dtype) - 1)
        weights = impartial * scales
        return weights, {"weights": to_list(weights), "scales": to_list(scales), "impartial": to_list(impartial)}
