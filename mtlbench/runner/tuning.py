"""A fair tuning budget: every method gets the same number of trials, selected on validation only.

MTL papers tune their own method and run the baselines at defaults; that alone can manufacture
a gain. With ``--tune N`` each (method, dataset, backbone, tasks) group gets exactly N trials
over the learning rate and the method's own hyper-parameters (linear scalarization tunes its
task weights), trial 0 being the official defaults. Trials run on the group's first seed and
are scored by the validation criterion (``TrainConfig.monitor``); the test split is never
looked at. The chosen setting then runs on every seed of the grid, and each final run records
the budget and the trial it came from.

Trials are drawn by a generator seeded from the method name and trial index, so the same
trials are proposed whatever else the grid contains.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from mtlbench.errors import MtlbenchError
from mtlbench.methods import METHODS
from mtlbench.methods.hparams import Dimension
from mtlbench.runner.spec import RunSpec, freeze_params

LEARNING_RATE = Dimension("log", 1e-4, 3e-3)
"""Every method tunes the learning rate in the same range, linear scalarization included."""


def search_space(method: str) -> dict[str, Dimension]:
    """The method's tunable hyper-parameters (without the learning rate): its class's ``search_space``,
    the ranges around its official defaults (a plugin method declares its own the same way)."""
    return dict(METHODS.get(method).search_space)


def _generator(method: str, trial: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{method}/{trial}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def trial_specs(spec: RunSpec, budget: int) -> list[RunSpec]:
    """The ``budget`` trials of ``spec``'s group; trial 0 is the grid's own setting."""
    if budget < 1:
        raise MtlbenchError(f"--tune needs a positive number of trials; got {budget}")
    space = search_space(spec.method)
    trials = []
    for trial in range(budget):
        params = dict(spec.method_params)
        lr = spec.train.lr
        if trial > 0:
            rng = _generator(spec.method, trial)
            lr = LEARNING_RATE.sample(rng, len(spec.tasks))
            params |= {name: dim.sample(rng, len(spec.tasks)) for name, dim in sorted(space.items())}
        trials.append(
            replace(
                spec,
                method_params=freeze_params(params),
                train=replace(spec.train, lr=lr),
                tuning=(("budget", budget), ("trial", trial)),
            )
        )
    return trials


def group_key(spec: RunSpec) -> tuple[Any, ...]:
    """Runs that share a tuning outcome: everything but the seed."""
    return (spec.method, spec.method_params, spec.dataset, spec.data_options, spec.backbone, spec.size, spec.tasks)


def plan_trials(specs: Sequence[RunSpec], budget: int) -> dict[tuple[Any, ...], list[RunSpec]]:
    """Per group of ``specs``, the trials to run (on the group's first seed)."""
    groups: dict[tuple[Any, ...], RunSpec] = {}
    for spec in specs:
        key = group_key(spec)
        if key not in groups or spec.seed < groups[key].seed:
            groups[key] = spec
    return {key: trial_specs(first, budget) for key, first in groups.items()}


def apply_selection(
    specs: Sequence[RunSpec],
    trials: Mapping[tuple[Any, ...], list[RunSpec]],
    score: Callable[[RunSpec], float | None],
) -> list[RunSpec]:
    """Every spec with its group's best trial's setting; ``score`` is a trial's validation figure
    (higher is better; None for a failed trial). Ties go to the earlier trial, so the defaults win
    a tie. A group whose trials all failed keeps its defaults."""
    chosen: dict[tuple[Any, ...], RunSpec] = {}
    for key, group in trials.items():
        scored = [(s, -i, t) for i, t in enumerate(group) if (s := score(t)) is not None and math.isfinite(s)]
        chosen[key] = max(scored, key=lambda item: item[:2])[2] if scored else group[0]
    return [
        replace(
            spec,
            method_params=chosen[group_key(spec)].method_params,
            train=chosen[group_key(spec)].train,
            tuning=chosen[group_key(spec)].tuning,
        )
        for spec in specs
    ]
