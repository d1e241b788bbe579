"""MTL methods: a registry of gradient-combination and loss-weighting rules.

Every registered method is callable on a plain matrix, with its official defaults::

    from mtlbench.methods import combine
    d = combine("pcgrad", G)                      # G: torch.Tensor [K, P] -> [P]
    d = combine("cagrad", G, c=0.5, rescale=0)    # hyper-parameters as keyword arguments
    d = combine("famo", G, losses)                # FAMO weights by the K losses: it needs them

A method that needs the losses (``needs_losses``: FAMO) says so in one line when they are
missing; MGDA's default normalisation ("loss+") counts missing losses as equal (see its
docstring); ``staged`` is a schedule and needs ``task_names=[...]``.

``combine`` is ONE fresh step. Stateful methods (Nash-MTL's update period, GradVac's EMA
targets, FAMO's logits, DWA's loss history, RLW's generator, the tracked gradients of MoCo and
DB-MTL, SDMGrad's and MoDo's warm-started weights, ...) keep their state in the object
that :func:`create` returns; call its ``aggregate`` step after step to use it. The contract a
method fulfils, and a plugin implements, is :class:`~mtlbench.methods.base.Method`. Each
class names its paper and official code (``paper``, ``code``, ``mtlbench describe NAME``), its
defaults, and every deviation from them; one module per method, named after it.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

# isort: off
# Importing a module registers its method; this order is the registry's (`mtlbench list methods`, --methods all).
from mtlbench.methods import cagrad, came, imtl_g, upgrad, aligned_mtl, config, linear  # noqa: F401
from mtlbench.methods import mgda, mgda_ub, nash, pcgrad, gradvac, rlar, staged, uw, dwa, rlw, famo  # noqa: F401
from mtlbench.methods import fairgrad, sdmgrad, moco, modo, excess_mtl, graddrop, dualproj, db_mtl  # noqa: F401
from mtlbench.methods import gradnorm, imtl, imtl_l, stch, gls  # noqa: F401
from mtlbench.methods import ls_tuned, stl  # noqa: F401

# isort: on
from mtlbench.methods.base import (
    METHODS,
    Aggregation,
    GramianMethod,
    LossWeightingMethod,
    Method,
    RandomMethod,
    WrapperMethod,
    method_seed,
)

__all__ = [
    "METHODS",
    "Aggregation",
    "GramianMethod",
    "LossWeightingMethod",
    "Method",
    "RandomMethod",
    "WrapperMethod",
    "combine",
    "create",
    "effective_hparams",
    "method_seed",
]


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
    return METHODS.get(name).hparam_defaults() | hparams
