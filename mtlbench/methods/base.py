"""The contract every MTL method fulfils, and the registry that holds them.

A *gradient method* sees the K x P matrix of per-task gradients over the shared
parameters (and the K losses) and returns the P-vector to apply. A *loss-weighting
method* returns K weights from the losses alone, so the engine needs one backward pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from mtlbench.registry import Registry, require_subclass


@dataclass
class Aggregation:
    """What a method decided in one step: the update direction and why."""

    direction: Tensor
    """[P] update for the shared parameters (a descent direction's gradient, applied as .grad)."""
    weights: Tensor | None = None
    """[K] effective task weights, when the method's direction is a weighted sum of the rows."""
    info: dict[str, Any] = field(default_factory=dict)
    """Method-specific diagnostics (floats or short lists), written to the training log."""


class Method(ABC):
    """Base of all MTL methods. Hyper-parameters are keyword-only ``__init__`` arguments."""

    uses_task_gradients: ClassVar[bool] = True
    """False for loss-weighting methods: the engine then does one backward pass of sum_i w_i L_i."""

    registered_name: ClassVar[str] = ""

    def reset(self) -> None:
        """Forget any state carried between steps (EMA targets, previous losses, cached weights)."""

    def extra_parameters(self) -> list[torch.nn.Parameter]:
        """Learnable parameters the method owns (e.g. uncertainty weights); the optimiser trains them."""
        return []

    @abstractmethod
    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        """Combine the per-task gradient matrix ``grads`` [K, P] into one update [P]."""


class LossWeightingMethod(Method):
    """A method that only re-weights the task losses."""

    uses_task_gradients: ClassVar[bool] = False

    @abstractmethod
    def loss_weights(self, losses: Tensor) -> Tensor:
        """K weights for the (detached) task losses of this step."""

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        if losses is None:
            raise ValueError(f"{type(self).__name__} weights losses: pass losses=")
        weights = self.loss_weights(losses.detach()).to(grads.dtype)
        return Aggregation(direction=weights @ grads, weights=weights)


METHODS: Registry[type[Method]] = Registry("method", "mtlbench.methods", check=require_subclass(Method))
