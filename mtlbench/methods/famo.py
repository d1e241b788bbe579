"""FAMO: fast adaptive multitask optimisation, loss weights learnt from the decrease of the log-losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mtlbench.methods.base import METHODS, LossWeightingMethod
from mtlbench.methods.hparams import Dimension, Range, rules, space


@METHODS.register("famo")
class FAMO(LossWeightingMethod):
    """FAMO (Liu et al., NeurIPS 2023, "Fast Adaptive Multitask Optimization"), official form.

    Official code: github.com/Cranial-XIX/FAMO (``famo.py``). Loss
    sum_i z_i log(L_i - m_i + eps) / c with z = softmax(xi), c = sum_i z_i / (L_i - m_i + eps)
    (detached), m = 0 (the official ``min_losses``): the effective weights z_i / (c (L_i + eps))
    sum to 1. After each optimiser step, ``observe`` gets the same batch's losses again and
    moves the logits xi by Adam (lr ``w_lr`` 0.025, weight decay ``gamma`` 0.01) along the
    softmax Jacobian times the decrease of the log-losses, as the official ``update``. The
    shared parameters' gradient is clipped to ``max_norm`` (1.0, official; 0 disables) after
    the backward pass, as the official ``backward``; the engine does that clip (``max_norm``
    contract of :class:`~mtlbench.methods.base.Method`).

    Deviations: the logits live on the CPU in float64 (official: float32 on the device); only
    ``min_losses`` = 0 is offered, so every task loss must be non-negative (all of mtlbench's
    are). ``loss_weights`` reports the effective weights (before the clip, whose factor is the
    step's ``info["clip_scale"]``).
    """

    observes_updated_losses = True
    paper = 'Liu et al., NeurIPS 2023, "FAMO: Fast Adaptive Multitask Optimization"'
    code = "github.com/Cranial-XIX/FAMO"
    hparam_rules = rules(
        w_lr=Range(0.0, strict=True),
        gamma=Range(0.0),
        max_norm=Range(0.0),
        eps=Range(0.0, strict=True),
    )
    search_space = space(w_lr=Dimension("log", 5e-3, 0.1), gamma=Dimension("log", 1e-3, 0.1))
    state_attributes = ("logits", "optimizer", "previous")

    def __init__(self, *, w_lr: float = 0.025, gamma: float = 0.01, max_norm: float = 1.0, eps: float = 1e-8) -> None:
        self.check_hparams(w_lr=w_lr, gamma=gamma, max_norm=max_norm, eps=eps)
        self.w_lr, self.gamma, self.eps = float(w_lr), float(gamma), float(eps)
        self.max_norm = float(max_norm)
        self.logits: Tensor | None = None
        self.optimizer: torch.optim.Adam | None = None
        self.previous: Tensor | None = None

    def setup(self, n_tasks: int) -> None:
        if self.logits is None or self.logits.shape[0] != n_tasks:
            self.logits = torch.zeros(n_tasks, dtype=torch.float64, requires_grad=True)
            self.optimizer = torch.optim.Adam([self.logits], lr=self.w_lr, weight_decay=self.gamma)
            self.previous = None

    def reset(self) -> None:
        self.logits, self.optimizer, self.previous = None, None, None

    def _z(self, k: int) -> Tensor:
        self.setup(k)
        assert self.logits is not None
        return F.softmax(self.logits.detach(), dim=0)

    def loss_weights(self, losses: Tensor) -> Tensor:
        z = self._z(losses.shape[0]).to(losses.device)
        shifted = losses.detach().double() + self.eps
        c = (z / shifted).sum()
        return (z / (c * shifted)).to(losses.dtype)

    def weighted_loss(self, losses: Tensor) -> Tensor:
        z = self._z(losses.shape[0]).to(device=losses.device, dtype=losses.dtype)
        shifted = losses + self.eps
        c = (z / shifted).sum().detach()
        self.previous = losses.detach().double().cpu()
        return (torch.log(shifted) * z / c).sum()

    def observe(self, losses: Tensor) -> None:
        if self.previous is None or self.logits is None or self.optimizer is None:
            return
        delta = torch.log(self.previous + self.eps) - torch.log(losses.detach().double().cpu() + self.eps)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(F.softmax(self.logits, dim=0), self.logits, grad_outputs=delta)
        self.optimizer.zero_grad()
        self.logits.grad = grad
        self.optimizer.step()
