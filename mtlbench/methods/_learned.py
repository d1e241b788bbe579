"""Per-task learnable parameters of a method (log-scales), trained by the run's optimiser."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def task_parameter(current: nn.Parameter | None, n_tasks: int, init: float = 0.0) -> nn.Parameter:
    """``current`` when it already holds one value per task, else a new parameter filled with ``init``.

    Called from ``setup``, before the optimiser collects ``extra_parameters()``, so that the
    optimiser trains the very object the method reads.
    """
    if current is not None and current.shape == (n_tasks,):
        return current
    return nn.Parameter(torch.full((n_tasks,), float(init)))


def on_device(parameter: nn.Parameter, device: torch.device) -> Tensor:
    """The parameter moved (in place, so the optimiser keeps it) to the losses' or gradients' device."""
    if parameter.device != device:
        parameter.data = parameter.data.to(device)
    return parameter


def add_grad(parameter: nn.Parameter, grad: Tensor) -> None:
    """Accumulate ``grad`` into ``parameter.grad``, as a backward pass would."""
    grad = grad.detach().to(device=parameter.device, dtype=parameter.dtype)
    parameter.grad = grad if parameter.grad is None else parameter.grad + grad
