"""PCGrad: project each task gradient off the others it conflicts with, then sum."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import TINY, reduce_rows
from mtlbench.methods.base import METHODS, GramianMethod, RandomMethod
from mtlbench.methods.hparams import Choice, Described, rules


@METHODS.register("pcgrad")
class PCGrad(RandomMethod, GramianMethod):
    """PCGrad (Yu et al., NeurIPS 2020, "Gradient Surgery for Multi-Task Learning").

    Official code: github.com/tianheyu927/PCGrad (TF); PyTorch: WeiChengTseng/Pytorch-PCGrad.
    For each task i, start from g_i and, over the other tasks j in a random order, remove the
    component along the ORIGINAL g_j whenever the running g_i' conflicts with it
    (g_i' . g_j < 0): g_i' -= (g_i' . g_j / |g_j|^2) g_j. The update is the SUM of the
    projected gradients (``reduction="sum"``, as the official code; ``"mean"`` divides by K as
    Nash-MTL's port optionally does). The edited g_i' are kept as coefficients over the original
    rows (g_i' = c_i @ J), so every dot product comes from the Gram matrix.

    Deviations: the order is drawn from the method's own generator (:class:`RandomMethod`:
    seeded from the run's seed, so replicates differ and a seed reproduces; the official code
    uses Python's global ``random``); ``reset()`` restarts it. The official PyTorch loop also
    visits j = i (a no-op unless g_i' has turned against g_i); like the paper and torchjd we
    skip it. For K = 2 the result does not depend on the order.
    """

    paper = 'Yu et al., NeurIPS 2020, "Gradient Surgery for Multi-Task Learning"'
    code = "github.com/tianheyu927/PCGrad (TensorFlow); github.com/WeiChengTseng/Pytorch-PCGrad"
    hparam_rules = rules(
        reduction=Choice(("sum", "mean")),
        seed=Described("an integer to fix the task order's stream in every replicate; None: the run's seed"),
    )

    def __init__(self, *, reduction: str = "sum", seed: int | None = None) -> None:
        self.check_hparams(reduction=reduction)
        self.reduction = reduction
        self.init_random(seed)

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        norms_sq = g.diagonal()
        coeffs = torch.eye(k, dtype=g.dtype, device=g.device)
        projections = 0
        for i in range(k):
            for j in torch.randperm(k, generator=self.generator).tolist():
                if j == i or float(norms_sq[j]) <= TINY:
                    continue
                dot = coeffs[i] @ g[:, j]
                if float(dot) < 0:
                    coeffs[i, j] -= dot / norms_sq[j]
                    projections += 1
        return reduce_rows(coeffs, self.reduction), {"projections": float(projections)}
