"""Loss-weighting methods: one backward pass of a weighted loss (UW, DWA, RLW, FAMO).

Their conventions follow LibMTL and the official code of each paper; the engine calls
``weighted_loss`` once per step, ``observe`` after the optimiser step (FAMO) and ``end_epoch``
after each epoch (DWA). ``loss_weights`` returns the effective weight of each task loss in the
gradient, for the training log, without advancing any state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mtlbench.methods.base import METHODS, LossWeightingMethod, check_range


@METHODS.register("uw", aliases=("uncertainty",))
class UncertaintyWeighting(LossWeightingMethod):
    """Uncertainty weighting (Kendall et al., CVPR 2018), in LibMTL's form.

    Loss sum_i L_i / (2 exp(s_i)) + s_i / 2 with learnable log-variances s (initialised at
    ``init`` = -0.5 as LibMTL; the Nash-MTL repository's port starts at 0), trained by the same
    optimiser as the model (``extra_parameters``), weight decay included, as LibMTL. The same
    form for every task (the paper's 1/sigma^2 for classification losses is not used, as in
    LibMTL and the official ports). ``loss_weights`` reports 1 / (2 exp(s_i)).
    """

    def __init__(self, *, init: float = -0.5) -> None:
        self.init = float(init)
        self.log_vars: torch.nn.Parameter | None = None

    def setup(self, n_tasks: int) -> None:
        if self.log_vars is None or self.log_vars.shape[0] != n_tasks:
            self.log_vars = torch.nn.Parameter(torch.full((n_tasks,), self.init))

    def extra_parameters(self) -> list[torch.nn.Parameter]:
        return [self.log_vars] if self.log_vars is not None else []

    def _vars(self, losses: Tensor) -> Tensor:
        if self.log_vars is None:
            self.setup(losses.shape[0])
        assert self.log_vars is not None
        if self.log_vars.device != losses.device:
            self.log_vars.data = self.log_vars.data.to(losses.device)
        return self.log_vars

    def loss_weights(self, losses: Tensor) -> Tensor:
        return (0.5 * torch.exp(-self._vars(losses).detach())).to(losses.dtype)

    def weighted_loss(self, losses: Tensor) -> Tensor:
        s = self._vars(losses)
        return (losses / (2 * torch.exp(s)) + s / 2).sum()


@METHODS.register("dwa")
class DynamicWeightAverage(LossWeightingMethod):
    """Dynamic Weight Average (Liu et al., CVPR 2019, MTAN).

    Official code: github.com/lorenmt/mtan. w_i = K softmax_i(r / T) with
    r_i = L_i(e-1) / L_i(e-2), the ratio of the last two epochs' mean training losses (the
    training loop passes them to ``end_epoch``); weights are 1 for the first two epochs.
    ``temperature`` T = 2. Same as the official code and LibMTL (the Nash-MTL repository's port
    averages over windows of iterations instead; not offered).
    """

    needs_losses = False

    def __init__(self, *, temperature: float = 2.0) -> None:
        check_range("dwa", "temperature", temperature, low=0.0, strict=True)
        self.temperature = float(temperature)
        self.history: list[list[float]] = []

    def reset(self) -> None:
        self.history = []

    def end_epoch(self, mean_losses: Tensor | None = None) -> None:
        if mean_losses is not None:
            self.history.append([float(v) for v in mean_losses])

    def loss_weights(self, losses: Tensor) -> Tensor:
        k = losses.shape[0]
        if len(self.history) < 2:
            return torch.ones(k, dtype=losses.dtype, device=losses.device)
        last, before = (torch.tensor(h, dtype=losses.dtype, device=losses.device) for h in self.history[-2:][::-1])
        ratio = last / before.clamp_min(1e-12)
        return k * F.softmax(ratio / self.temperature, dim=0)


@METHODS.register("rlw")
class RandomLossWeighting(LossWeightingMethod):
    """Random loss weighting (Lin et al., TMLR 2022): weights softmax(z), z ~ N(0, I) each step.

    Drawn from the method's own generator (``seed``), so runs are reproducible; the weights sum
    to 1, as LibMTL.
    """

    needs_losses = False

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = int(seed)
        self.reset()

    def reset(self) -> None:
        self.generator = torch.Generator().manual_seed(self.seed)
        self._current: Tensor | None = None

    def loss_weights(self, losses: Tensor) -> Tensor:
        if self._current is None or self._current.shape[0] != losses.shape[0]:
            self._draw(losses.shape[0])
        assert self._current is not None
        return self._current.to(dtype=losses.dtype, device=losses.device)

    def _draw(self, k: int) -> None:
        self._current = F.softmax(torch.randn(k, generator=self.generator, dtype=torch.float64), dim=0)

    def weighted_loss(self, losses: Tensor) -> Tensor:
        self._draw(losses.shape[0])  # a fresh draw for every training step
        return (self.loss_weights(losses.detach()) * losses).sum()


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

    def __init__(self, *, w_lr: float = 0.025, gamma: float = 0.01, max_norm: float = 1.0, eps: float = 1e-8) -> None:
        check_range("famo", "w_lr", w_lr, low=0.0, strict=True)
        check_range("famo", "gamma", gamma, low=0.0)
        check_range("famo", "max_norm", max_norm, low=0.0)
        check_range("famo", "eps", eps, low=0.0, strict=True)
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
