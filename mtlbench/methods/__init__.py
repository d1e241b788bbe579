"""MTL methods: a registry of gradient-combination and loss-weighting rules.

Every method is callable on a plain matrix::

    from mtlbench.methods import combine
    d = combine("pcgrad", G)            # G: [K, P] -> [P]
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from mtlbench.methods import cagrad, came, gramian, linear, mgda, nash, projection, rlar, staged, weighting  # noqa: F401
from mtlbench.methods.base import METHODS, Aggregation, LossWeightingMethod, Method

__all__ = ["METHODS", "Aggregation", "LossWeightingMethod", "Method", "combine", "create"]


def create(name: str, **hparams: Any) -> Method:
    """Instantiate the method registered as ``name`` (or an alias) with its hyper-parameters."""
    return METHODS.get(name)(**hparams)


def combine(name: str, grads: Tensor, losses: Tensor | None = None, **hparams: Any) -> Tensor:
    """One fresh step of method ``name`` on the gradient matrix ``grads`` [K, P]; returns [P]."""
    return create(name, **hparams).aggregate(grads, losses).direction
