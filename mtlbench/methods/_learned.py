"""Per-task learnable log-scales of a method, trained by the run's optimiser (GradNorm, IMTL)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LearnedScales:
    """Mixin (before the method's base class): one learnable log-scale per task, 0 at the start.

    ``setup`` creates them before the optimiser collects ``extra_parameters()``, so the optimiser
    trains the very object the method reads; they are part of the method's state.
    """

    state_attributes: tuple[str, ...] = ("log_scales",)
    log_scales: nn.Parameter | None = None

    def setup(self, n_tasks: int) -> None:
        if self.log_scales is None or self.log_scales.shape != (n_tasks,):
            self.log_scales = nn.Parameter(torch.zeros(n_tasks))

    def reset(self) -> None:
        """Back to the start (every log-scale 0), in place: the optimiser keeps training the same object."""
        if self.log_scales is not None:
            with torch.no_grad():
                self.log_scales.zero_()

    def extra_parameters(self) -> list[nn.Parameter]:
        return [self.log_scales] if self.log_scales is not None else []

    def scales_on(self, n_tasks: int, device: torch.device) -> nn.Parameter:
        """The log-scales (created if needed), moved in place to ``device`` so the optimiser keeps them."""
        self.setup(n_tasks)
        assert self.log_scales is not None
        if self.log_scales.device != device:
            self.log_scales.data = self.log_scales.data.to(device)
        return self.log_scales


def add_grad(parameter: nn.Parameter, grad: Tensor) -> None:
    """Accumulate ``grad`` into ``parameter.grad``, as a backward pass would."""
    grad = grad.detach().to(device=parameter.device, dtype=parameter.dtype)
    parameter.grad = grad if parameter.grad is None else parameter.grad + grad
