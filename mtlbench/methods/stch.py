"""STCH: smooth Tchebycheff scalarization of the normalised log losses."""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbench.errors import MtlbenchError
from mtlbench.methods.base import LOGGER, METHODS, LossWeightingMethod
from mtlbench.methods.hparams import Dimension, Range, rules, space

LOG_EPS = 1e-20
"""Added inside every log, as the official code."""


@METHODS.register("stch", aliases=("smooth-tchebycheff",))
class STCH(LossWeightingMethod):
    """STCH (Lin et al., ICML 2024, "Smooth Tchebycheff Scalarization"), as its official MTL code.

    Official code: github.com/Xi-L/STCH (STCH_MTL/LibMTL/weighting/STCH.py). The objective is
    K mu log sum_i exp(f_i / mu), a smooth maximum of f_i = log(L_i / n_i + 1e-20), the log losses
    normalised by a nadir point n; as mu -> 0 it tends to K max_i f_i, the Tchebycheff
    scalarization (tested), and every weight but the worst task's to 0. The preferences are 1
    and the ideal point is 0 in this normalised log space (the official code). Warm-up: for the
    epochs before ``warmup_epoch`` the objective is sum_i log(L_i + 1e-20); during epoch
    ``warmup_epoch`` too, while the losses are averaged; that average is the nadir point n for the
    rest of the run. ``mu`` = 1 and ``warmup_epoch`` = 4 (0-based: STCH from the sixth epoch), the
    official configuration. A run with no more than ``warmup_epoch + 1`` epochs never leaves the
    warm-up (a warning says so).

    The objective is backpropagated as sum_i w_i L_i with its exact gradient weights,
    w_i = K softmax_i(f / mu) / (L_i + 1e-20 n_i) (warm-up: 1 / (L_i + 1e-20)), which
    ``loss_weights`` reports; the loss value itself is not used. torchjd's ``STCH(mu)`` is the
    smooth maximum with preferences 1/K on given values (tested against it on the f_i).
    State: the loss sums of the warm-up epoch and the nadir point; ``reset()`` clears them.
    """

    paper = (
        'Lin, Zhang, Chen, Liu, Zhang & Zhang, ICML 2024, "Smooth Tchebycheff Scalarization for '
        'Multi-Objective Optimization"'
    )
    code = "github.com/Xi-L/STCH (STCH_MTL/LibMTL/weighting/STCH.py); LibMTL STCH"
    hparam_rules = rules(mu=Range(0.0, strict=True), warmup_epoch=Range(0))
    search_space = space(mu=Dimension("log", 0.01, 1.0))
    state_attributes = ("loss_sum", "loss_count", "nadir")

    def __init__(self, *, mu: float = 1.0, warmup_epoch: int = 4) -> None:
        self.check_hparams(mu=mu, warmup_epoch=warmup_epoch)
        if warmup_epoch != int(warmup_epoch):
            raise MtlbenchError(f"stch: warmup_epoch must be a whole number of epochs; got {warmup_epoch!r}")
        self.mu = float(mu)
        self.warmup_epoch = int(warmup_epoch)
        self.epoch = 0
        self.reset()

    def reset(self) -> None:
        self.loss_sum: Tensor | None = None
        self.loss_count = 0
        self.nadir: Tensor | None = None

    def start_epoch(self, epoch: int, total_epochs: int) -> None:
        self.epoch = epoch
        if epoch == 0 and total_epochs <= self.warmup_epoch + 1:
            LOGGER.warning(
                "stch: %d epochs never leave the warm-up (warmup_epoch %d): every step minimises sum_i log L_i",
                total_epochs,
                self.warmup_epoch,
            )

    def _normalised_logs(self, values: Tensor, nadir: Tensor) -> Tensor:
        return torch.log(values / nadir + LOG_EPS)

    def loss_weights(self, losses: Tensor) -> Tensor:
        values = losses.detach().to(torch.float64)
        nadir = self._nadir_for(values)
        if nadir is None:
            return (1.0 / (values + LOG_EPS)).to(losses.dtype)
        k = values.shape[0]
        shares = torch.softmax(self._normalised_logs(values, nadir) / self.mu, dim=0)
        return (k * shares / (values + LOG_EPS * nadir)).to(losses.dtype)

    def weighted_loss(self, losses: Tensor) -> Tensor:
        values = losses.detach().to(torch.float64).cpu()
        if self.epoch == self.warmup_epoch:
            self.loss_sum = values if self.loss_sum is None else self.loss_sum + values
            self.loss_count += 1
        elif self.epoch > self.warmup_epoch and self.nadir is None:
            if self.loss_count == 0:  # e.g. a lone call after the warm-up: this step's losses set the scale
                LOGGER.warning("stch: no warm-up losses were seen; this step's losses are the nadir point")
                self.loss_sum, self.loss_count = values, 1
            assert self.loss_sum is not None
            self.nadir = self.loss_sum / self.loss_count
        return super().weighted_loss(losses)

    def _nadir_for(self, values: Tensor) -> Tensor | None:
        """The nadir point on the losses' device, or None during the warm-up."""
        if self.epoch <= self.warmup_epoch:
            return None
        if self.nadir is not None:
            return self.nadir.to(values.device)
        if self.loss_sum is not None and self.loss_count:  # asked before the first step after the warm-up
            return (self.loss_sum / self.loss_count).to(values.device)
        return values
