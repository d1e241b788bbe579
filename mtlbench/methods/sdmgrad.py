"""SDMGrad: stochastic direction-oriented MGDA, regularised towards the average gradient."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.errors import MtlbenchError
from mtlbench.methods._linalg import clip_weights, project_to_simplex, to_list
from mtlbench.methods.base import METHODS, GramianMethod
from mtlbench.methods.hparams import Choice, Described, Dimension, Range, rules, space


@METHODS.register("sdmgrad")
class SDMGrad(GramianMethod):
    """SDMGrad (Xiao et al., NeurIPS 2023, "Direction-oriented Multi-objective Learning").

    Official code: github.com/OptMN-Lab/sdmgrad (``SDMGrad`` in methods/weight_methods.py). The
    weights w on the simplex approximately solve min_w 1/2 |J^T w|^2 + lam (J^T w) . g_0 by
    ``niter`` (20) steps of SGD (``lr`` 10, ``momentum`` 0.5, a fresh momentum buffer every
    training step) on A = G / (s^2 + 1e-8), s = mean_i |g_i| (the step-size-free scaling of the
    official code, LibMTL and torchjd), each followed by the exact Euclidean projection onto the
    simplex; w is kept between steps (warm start; the method's state, uniform at the start and
    after ``reset()``). The update is d = (J^T w + lam g_0) / (1 + lam) with g_0 = J^T 1/K;
    ``lam`` = 0.3 (the official experiments, LibMTL and torchjd; the official class default is 0.6).

    Conventions as the official trainer: ``reduction="sum"`` (default) multiplies d by K
    ("to match the sum loss"; torchjd's weighting and LibMTL = ``"mean"``), then d is clipped to
    ``max_norm`` (1.0, the official ``--max_norm``; 0 disables).

    Deviation, double sampling: the paper estimates A from two further independent mini-batches
    (A = J_xi J_xi'^T, d from a third, zeta) so that its stochastic estimate is unbiased. mtlbench
    takes one mini-batch per step (A = G, the Gram matrix of the step's gradients): the same cost
    as every other gradient method, a biased estimate of A. The official code does the same in
    effect: it allocates its three gradient buffers as ``[tensor] * 3``, three references to ONE
    tensor, so all three hold the gradients of the last batch it differentiates. The official
    scaling adds 1e-4 under the square root of s; we follow LibMTL and torchjd (1e-8 on s^2).
    ``info``: the simplex weights w, the final weights (before the clip), norm before the clip,
    clip factor.
    """

    paper = (
        'Xiao, Ban & Ji, NeurIPS 2023, "Direction-oriented Multi-objective Learning: Simple and Provable '
        'Stochastic Algorithms"'
    )
    code = "github.com/OptMN-Lab/sdmgrad (SDMGrad in methods/weight_methods.py)"
    hparam_rules = rules(
        lam=Range(0.0),
        niter=Range(1),
        lr=Range(0.0, strict=True),
        momentum=Described("a number in [0, 1)"),
        reduction=Choice(("sum", "mean")),
        max_norm=Range(0.0),
    )
    search_space = space(lam=Dimension("uniform", 0.05, 1.0))
    state_attributes = ("simplex_weights",)

    def __init__(
        self,
        *,
        lam: float = 0.3,
        niter: int = 20,
        lr: float = 10.0,
        momentum: float = 0.5,
        reduction: str = "sum",
        max_norm: float = 1.0,
    ) -> None:
        self.check_hparams(lam=lam, niter=niter, lr=lr, reduction=reduction, max_norm=max_norm)
        if isinstance(momentum, bool) or not isinstance(momentum, int | float) or not 0 <= momentum < 1:
            raise MtlbenchError(f"sdmgrad: momentum must be a number in [0, 1); got {momentum!r}")
        self.lam = float(lam)
        self.niter = int(niter)
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.reduction = reduction
        self.max_norm = float(max_norm)
        self.simplex_weights: Tensor | None = None

    def reset(self) -> None:
        self.simplex_weights = None

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        uniform = torch.full((k,), 1.0 / k, dtype=g.dtype, device=g.device)
        w = uniform if self.simplex_weights is None or self.simplex_weights.shape[0] != k else self.simplex_weights
        w = w.to(device=g.device, dtype=g.dtype)
        s = g.diagonal().clamp_min(0).sqrt().mean()
        a = g / (s * s + 1e-8)
        pull = a @ uniform * self.lam
        velocity: Tensor | None = None
        for _ in range(self.niter):
            grad = a @ w + pull
            velocity = grad if velocity is None else self.momentum * velocity + grad
            w = project_to_simplex(w - self.lr * velocity)
        self.simplex_weights = w.cpu()
        weights = (w + self.lam * uniform) / (1 + self.lam) * (k if self.reduction == "sum" else 1)
        clipped, norm, factor = clip_weights(weights, g, self.max_norm)
        info = {"simplex_weights": to_list(w), "weights": to_list(weights), "norm_before_clip": norm}
        return clipped, info | {"clip_scale": factor}
