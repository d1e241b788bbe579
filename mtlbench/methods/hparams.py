"""What a method's hyper-parameters may be: allowed values and tuning ranges, declared on the class.

A method declares, next to its keyword-only ``__init__`` arguments (whose defaults are the
official ones), ``hparam_rules`` (the values it accepts: :class:`Range`, :class:`Choice`,
:class:`Flag`) and ``search_space`` (the ranges ``--tune`` samples: :class:`Dimension`). Both
live on the method so that its checks, ``mtlbench describe`` and the tuner read one source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from mtlbench.errors import MtlbenchError


@dataclass(frozen=True)
class Range:
    """A number in [low, high] (``strict``: in (low, high)); None is an open end."""

    low: float | None = None
    high: float | None = None
    strict: bool = False

    def check(self, method: str, name: str, value: Any) -> None:
        bad = isinstance(value, bool) or not isinstance(value, int | float) or value != value  # NaN
        if not bad and self.low is not None:
            bad = value <= self.low if self.strict else value < self.low
        if not bad and self.high is not None:
            bad = value >= self.high if self.strict else value > self.high
        if bad:
            raise MtlbenchError(f"{method}: {name} must be a number in {self}; got {value!r}")

    def __str__(self) -> str:
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"({lo}, {hi})" if self.strict else f"[{lo}, {hi}]"


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of values."""

    options: tuple[Any, ...]

    def check(self, method: str, name: str, value: Any) -> None:
        if value not in self.options:
            raise MtlbenchError(f"{method}: {name} must be one of {', '.join(map(repr, self.options))}; got {value!r}")

    def __str__(self) -> str:
        return " | ".join(map(str, self.options))


@dataclass(frozen=True)
class Flag:
    """A switch: true or false (a stage of an ablation, say)."""

    def check(self, method: str, name: str, value: Any) -> None:
        if not isinstance(value, bool):
            raise MtlbenchError(f"{method}: {name} must be true or false; got {value!r}")

    def __str__(self) -> str:
        return "true | false"


@dataclass(frozen=True)
class Described:
    """A value whose check the method does itself (a list, a method name); ``text`` says what it accepts."""

    text: str

    def check(self, method: str, name: str, value: Any) -> None:
        """Checked by the method's ``__init__``, which knows the context (e.g. the number of tasks)."""

    def __str__(self) -> str:
        return self.text


Rule = Range | Choice | Flag | Described


@dataclass(frozen=True)
class Dimension:
    """One hyper-parameter's search range for ``--tune``.

    kind: "log" / "uniform" (floats in [low, high]), "int" (integers in [low, high]),
    "choice" (one of ``choices``), "weights" (a task-weight vector: 1 for the first task,
    log-uniform in [low, high] for each other one).
    """

    kind: str
    low: float = 0.0
    high: float = 1.0
    choices: tuple[Any, ...] = ()

    def sample(self, rng: np.random.Generator, n_tasks: int) -> Any:
        if self.kind == "log":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        if self.kind == "uniform":
            return float(rng.uniform(self.low, self.high))
        if self.kind == "int":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        if self.kind == "choice":
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.kind == "weights":
            others = np.exp(rng.uniform(math.log(self.low), math.log(self.high), size=n_tasks - 1))
            return (1.0, *(float(w) for w in others))
        raise ValueError(f"unknown search dimension kind {self.kind!r}")

    def __str__(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        if self.kind == "weights":
            return f"1, then log-uniform [{self.low:g}, {self.high:g}] per task"
        return f"{self.kind} [{self.low:g}, {self.high:g}]"


def rules(**by_name: Rule) -> Mapping[str, Rule]:
    """A method's ``hparam_rules``, read-only: ``rules(c=Range(0.0), reduction=Choice(("sum", "mean")))``."""
    return MappingProxyType(by_name)


def space(**by_name: Dimension) -> Mapping[str, Dimension]:
    """A method's ``search_space``, read-only: ``space(c=Dimension("uniform", 0.1, 0.9))``."""
    return MappingProxyType(by_name)
