"""MTL methods: a registry of gradient-combination and loss-weighting rules.

Every registered method is callable on a plain matrix, with its official defaults::

    from mtlbench.methods import combine
    d = combine("pcgrad", G)                      # G: torch.Tensor [K, P] -> [P]
    d = combine("cagrad", G, c=0.5, rescale=0)    # hyper-parameters as keyword arguments
    d = combine("famo", G, losses)                # loss-weighting methods need the K losses

``combine`` is ONE fresh step. Stateful methods (Nash-MTL's update period, GradVac's EMA
targets, FAMO's logits, DWA's loss history, RLW's generator) keep their state in the object
that :func:`create` returns; call its ``aggregate`` step after step to use it. Each class's
docstring names its paper and official code, its defaults, and every deviation from them.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import Tensor

from mtlbench.methods import cagrad, came, gramian, linear, mgda, nash, projection, rlar, staged, weighting  # noqa: F401
from mtlbench.methods.base import METHODS, Aggregation, LossWeightingMethod, Method

__all__ = ["METHODS", "Aggregation", "LossWeightingMethod", "Method", "combine", "create", "effective_hparams"]


def create(name: str, **hparams: Any) -> Method:
    """Instantiate the method registered as ``name`` (or an alias) with its hyper-parameters."""
    return METHODS.get(name)(**hparams)


def combine(name: str, grads: Tensor, losses: Tensor | None = None, **hparams: Any) -> Tensor:
    """One fresh step of method ``name`` on the gradient matrix ``grads`` [K, P]; returns [P]."""
    return create(name, **hparams).aggregate(grads, losses).direction


def effective_hparams(name: str, **hparams: Any) -> dict[str, Any]:
    """The hyper-parameters method ``name`` runs with: its defaults, overridden by ``hparams``.

    Recorded with every run, because a run_id hashes only the hyper-parameters given: a default
    changed by a later version would otherwise go unnoticed against old results.
    """
    parameters = inspect.signature(METHODS.get(name).__init__).parameters.values()
    defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
    return defaults | hparams
