"""GradDrop: per coordinate, keep the task gradients of one sign, chosen by the sign purity."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from mtlbench.methods._linalg import gram
from mtlbench.methods.base import METHODS, Aggregation, GradientSource, RandomMethod, check_inputs, non_finite
from mtlbench.methods.hparams import Described, Dimension, Range, rules, space


@METHODS.register("graddrop", aliases=("grad-drop", "grad_drop"))
class GradDrop(RandomMethod):
    """GradDrop (Chen et al., NeurIPS 2020, "Just Pick a Sign"), gradient sign dropout, Algorithm 1.

    Applied where the paper applies it, at the shared representation z (the trunk's output that
    every head reads; ``gradient_source = "representation"``, as LibMTL's GradDrop, which refuses
    parameter gradients): the rows are dL_i/dz. For batch-separated activations the paper sums
    the sign-corrected gradients over the batch: G_i = sum_b sign(z_b) dL_i/dz_b (the engine shows
    the method z through :meth:`set_representation`); the sign purity is
    P = 1/2 (1 + sum_i G_i / sum_i |G_i|) per feature, U ~ Uniform(0, 1) per feature (one draw
    shared by the whole batch, from the method's generator, seeded from the run's seed), the mask
    M_i = [P > U][G_i > 0] + [P < U][G_i < 0], and the new gradient at z is
    sum_i (leak + (1 - leak) M_i) dL_i/dz (a SUM over tasks, as the paper and LibMTL), which the
    engine backpropagates into the trunk; every head gets the plain gradient of its own loss.
    ``leak`` = 0 (LibMTL's default; the paper's leak per task, here one for all). f is the
    identity (the paper's default). A feature where every G_i is 0 has P = 1/2 (LibMTL adds 1e-7
    to the denominator instead; torchjd divides 0 by 0) and keeps nothing.

    On a plain matrix (``combine``, no representation given) the rows are taken as they are,
    without batch separation: the paper's lines 10-15, which is torchjd's ``GradDrop``; with the
    same uniform draws the two agree (tested). Backbone note: on ``cmn`` the report loss also
    reaches the shared memory other than through z; that path gets its plain (unmasked) gradient.
    ``info``: the share of features where positive signs were kept.
    """

    gradient_source: ClassVar[GradientSource] = "representation"
    paper = (
        'Chen, Ngiam, Huang, Luong, Kretzschmar, Chai & Anguelov, NeurIPS 2020, "Just Pick a Sign: '
        'Optimizing Deep Multitask Models with Gradient Sign Dropout"'
    )
    code = "none released by the authors; LibMTL GradDrop and torchjd GradDrop are the references"
    hparam_rules = rules(
        leak=Range(0.0, 1.0),
        seed=Described("an integer to fix the dropout draws' stream in every replicate; None: the run's seed"),
    )
    search_space = space(leak=Dimension("uniform", 0.0, 0.5))

    def __init__(self, *, leak: float = 0.0, seed: int | None = None) -> None:
        self.check_hparams(leak=leak)
        self.leak = float(leak)
        self._signs: Tensor | None = None
        self.init_random(seed)

    def set_representation(self, representation: Tensor) -> None:
        self._signs = representation.detach().sign()

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        k = check_inputs(grads, losses)
        signs, self._signs = self._signs, None  # a representation describes one step only
        g = gram(grads)
        bad = non_finite(grads, g)
        if bad is not None:
            return bad
        if signs is not None and signs.numel() == grads.shape[1]:
            per_sample = grads.view(k, signs.shape[0], -1)
            purity_rows = (per_sample * signs.view(1, signs.shape[0], -1).to(grads.dtype)).sum(dim=1)
        else:
            per_sample, purity_rows = grads.view(k, 1, -1), grads
        total = purity_rows.abs().sum(dim=0)
        purity = torch.where(total > 0, 0.5 * (1 + purity_rows.sum(dim=0) / total), torch.full_like(total, 0.5))
        draws = torch.rand(purity.shape, generator=self.generator, dtype=torch.float64)
        draws = draws.to(device=purity.device, dtype=purity.dtype)
        keep_positive, keep_negative = purity > draws, purity < draws
        masks = (keep_positive & (purity_rows > 0)) | (keep_negative & (purity_rows < 0))
        factors = self.leak + (1 - self.leak) * masks.to(grads.dtype)
        direction = (per_sample * factors[:, None, :]).sum(dim=0).reshape(-1)
        info: dict[str, Any] = {"positive_share": float(keep_positive.to(torch.float64).mean())}
        return Aggregation(direction=direction, info=info, gram=g)
