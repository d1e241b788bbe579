"""Training curves of a cell's runs, read from their training logs (through :mod:`mtlbench.results`).

A run logs per step its task losses, the weights its method gave the tasks, the pairwise cosines
and norms of the task gradients, and per epoch its validation figures. For pictures these are
put on one x axis, training progress in epochs: step values are averaged over bins of equal
length (``bins_per_epoch`` per epoch, about 40 bins over the whole training), epoch values sit
at the end of their epoch. Methods are summarised over seeds by the mean and the range
(min to max): with the 2 to 10 seeds people run, a range hides nothing that a standard error
would smooth away.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtlbench.results import TRAIN_LOG, read_train_log

TARGET_BINS = 40
"""About this many points over a whole training, whatever its number of epochs."""

STEP_SERIES = ("losses", "weights", "cosines", "grad_norms")
"""Per-step mappings of the training log that become curves (task or task pair -> value)."""


@dataclass(frozen=True)
class Series:
    """One curve: values at positions ``x`` (epochs of training)."""

    x: np.ndarray
    y: np.ndarray


@dataclass
class RunCurves:
    """Curves of one run: ``step[kind][name]`` (kind one of STEP_SERIES) and ``val[figure]``."""

    run_id: str
    method: str
    seed: int
    epochs: int
    step: dict[str, dict[str, Series]] = field(default_factory=dict)
    val: dict[str, Series] = field(default_factory=dict)
    train_loss: dict[str, Series] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.val and not any(self.step.values())


@dataclass(frozen=True)
class Band:
    """A method's curve over seeds: mean and range at every x where some seed has a value."""

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: int


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def run_curves(path: Path, *, run_id: str, method: str, seed: int, epochs: int) -> RunCurves:
    """The curves of the run whose folder is ``path`` (empty when it has no training log)."""
    entries = read_train_log(Path(path) / TRAIN_LOG)
    curves = RunCurves(run_id, method, seed, epochs)
    steps = [e for e in entries if e.get("kind") == "step"]
    epoch_entries = [e for e in entries if e.get("kind") == "epoch"]
    per_epoch: dict[int, list[int]] = defaultdict(list)
    for entry in steps:
        per_epoch[int(entry.get("epoch", 0))].append(int(entry.get("step", 0)))
    bins_per_epoch = max(1, math.ceil(TARGET_BINS / max(epochs, 1)))
    positions = _positions(per_epoch, bins_per_epoch)
    for kind in STEP_SERIES:
        collected: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        for entry in steps:
            values = entry.get(kind)
            if not isinstance(values, dict):
                continue
            where = positions[int(entry.get("step", 0))]
            for name, value in values.items():
                number = _finite(value)
                if number is not None:
                    collected[str(name)][where].append(number)
        curves.step[kind] = {name: _mean_series(points) for name, points in collected.items()}
    for figure_key, target in (("val", curves.val), ("train_loss", curves.train_loss)):
        collected_epoch: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        for entry in epoch_entries:
            values = entry.get(figure_key)
            if not isinstance(values, dict):
                continue
            for name, value in values.items():
                number = _finite(value)
                if number is not None:
                    collected_epoch[str(name)][int(entry["epoch"]) + 1.0].append(number)
        target |= {name: _mean_series(points) for name, points in collected_epoch.items()}
    return curves


def _positions(per_epoch: dict[int, list[int]], bins: int) -> dict[int, float]:
    """Step -> the centre of its bin, in epochs: bin b of epoch e sits at e + (b + 0.5) / bins."""
    out: dict[int, float] = {}
    for epoch, steps in per_epoch.items():
        ordered = sorted(set(steps))
        first, count = ordered[0], ordered[-1] - ordered[0] + 1
        for step in ordered:
            b = min(bins - 1, (step - first) * bins // count)
            out[step] = epoch + (b + 0.5) / bins
    return out


def _mean_series(points: dict[float, list[float]]) -> Series:
    xs = sorted(points)
    return Series(np.array(xs), np.array([float(np.mean(points[x])) for x in xs]))


def band(series: Sequence[Series]) -> Band | None:
    """Mean and range over seeds at every x some seed has (None when no seed has any point)."""
    series = [s for s in series if s.x.size]
    if not series:
        return None
    xs = np.unique(np.concatenate([s.x for s in series]))
    table = np.full((len(series), xs.size), np.nan)
    for row, s in enumerate(series):
        table[row, np.searchsorted(xs, s.x)] = s.y
    with np.errstate(all="ignore"):
        mean = np.nanmean(table, axis=0)
    return Band(xs, mean, np.nanmin(table, axis=0), np.nanmax(table, axis=0), len(series))


def method_bands(runs: Iterable[RunCurves], kind: str, name: str) -> Band | None:
    """Band over a method's runs of one curve: ``kind`` is "val", "train_loss" or a STEP_SERIES."""
    picked = []
    for run in runs:
        source = run.val if kind == "val" else run.train_loss if kind == "train_loss" else run.step.get(kind, {})
        if name in source:
            picked.append(source[name])
    return band(picked)


def names(runs: Iterable[RunCurves], kind: str) -> list[str]:
    """Every curve name of ``kind`` some run has, in first-seen order."""
    seen: dict[str, None] = {}
    for run in runs:
        source = run.val if kind == "val" else run.train_loss if kind == "train_loss" else run.step.get(kind, {})
        seen |= dict.fromkeys(source)
    return list(seen)
