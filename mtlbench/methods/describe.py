"""What ``mtlbench describe METHOD`` shows: a method's reference, kind and hyper-parameters, from its class."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from mtlbench.methods.base import METHODS, Method, RandomMethod, WrapperMethod


@dataclass(frozen=True)
class HyperParameter:
    """One keyword of the method's ``__init__``: its official default, what it accepts, what --tune samples."""

    name: str
    default: Any
    allowed: str
    tuned: str


@dataclass(frozen=True)
class MethodInfo:
    name: str
    aliases: tuple[str, ...]
    summary: str
    paper: str
    code: str
    kind: str
    hyperparameters: tuple[HyperParameter, ...]
    doc: str
    """The class docstring: conventions, defaults and every deviation from the official code."""


def _kind(cls: type[Method]) -> str:
    if issubclass(cls, WrapperMethod):
        return "wrapper: adds to the method it wraps (base), whose kind it takes"
    if not cls.uses_task_gradients:
        kind = "loss weighting: weights the K losses, one backward pass per step"
    elif cls.gradient_source == "representation":
        kind = "gradient method on the shared representation: one backward through the trunk"
    else:
        kind = "gradient method: combines the K per-task gradients over the shared parameters"
    extras = [
        "needs the losses" if cls.needs_losses else "",
        "random (its stream follows the run's seed)" if issubclass(cls, RandomMethod) else "",
    ]
    return "; ".join([kind, *(e for e in extras if e)])


def describe(name: str) -> MethodInfo:
    """Everything the class of method ``name`` (or an alias) declares about itself."""
    canonical = METHODS.canonical(name)
    cls = METHODS.get(canonical)
    defaults = cls.hparam_defaults()
    rows = tuple(
        HyperParameter(
            key,
            defaults.get(key, "(required)"),
            str(cls.hparam_rules[key]) if key in cls.hparam_rules else "",
            str(cls.search_space[key]) if key in cls.search_space else "",
        )
        for key in cls.hparam_names()
    )
    doc = inspect.cleandoc(cls.__doc__ or "")
    return MethodInfo(
        name=canonical,
        aliases=tuple(METHODS.aliases_of(canonical)),
        summary=doc.split("\n\n")[0].replace("\n", " "),
        paper=cls.paper,
        code=cls.code,
        kind=_kind(cls),
        hyperparameters=rows,
        doc=doc,
    )
