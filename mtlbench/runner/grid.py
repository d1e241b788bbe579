"""Grid expansion: methods x backbones x datasets x seeds -> frozen RunSpecs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mtlbench.backbones import BACKBONES
from mtlbench.backbones.base import check_backbone_options
from mtlbench.data import DATASETS
from mtlbench.errors import MtlbenchError
from mtlbench.methods import METHODS
from mtlbench.metrics.config import EvalConfig
from mtlbench.metrics.evaluate import extra_families
from mtlbench.runner.spec import RunSpec, freeze_params
from mtlbench.train.config import TrainConfig

DEFAULT_METHODS = ("ls", "pcgrad")
DEFAULT_DATASETS = ("synthetic",)
DEFAULT_SEEDS = 3


@dataclass(frozen=True)
class GridSpec:
    """A declarative grid; names may be aliases or "all" until :func:`expand` resolves them."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    datasets: tuple[str, ...] = DEFAULT_DATASETS
    backbones: tuple[str, ...] = ("transformer",)
    seeds: tuple[int, ...] = tuple(range(DEFAULT_SEEDS))
    size: str = "tiny"
    tasks: tuple[str, ...] = ("report", "cls")
    method_variants: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    """Per method, the hyper-parameter settings to run (one row each); absent = the defaults."""
    data_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per-dataset source options, e.g. {"synthetic": {"n_train": 64}}."""
    backbone_options: Mapping[str, Any] = field(default_factory=dict)
    """Options of every backbone of the grid, e.g. {"beam_size": 1} (see BACKBONE_OPTIONS)."""
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tune: int = 0
    """Trials per method group before the grid (0: none); see :mod:`mtlbench.runner.tuning`."""


def expand(grid: GridSpec) -> list[RunSpec]:
    """One RunSpec per (dataset, backbone, method, seed), canonical names, stable order.

    Every method's hyper-parameters are checked here, names against its signature and values
    against its rules, so a typo stops the grid with one line before any run starts.
    """
    methods = _baseline_rows(grid)
    datasets = DATASETS.expand(grid.datasets)
    backbones = BACKBONES.expand(grid.backbones)
    variants = {METHODS.canonical(name): tuple(v) for name, v in grid.method_variants.items()}
    if "stl" in methods:
        variants["stl"] = _single_task_variants(grid.tasks, variants.get("stl", ({},)))
    for name in methods:
        for params in variants.get(name, ({},)):
            check_method_params(name, params)
    evaluation = dataclasses.replace(grid.eval, metrics=extra_families(grid.eval.metrics))
    options = {DATASETS.canonical(name): dict(values) for name, values in grid.data_options.items()}
    rows = sum(len(variants.get(method, ({},))) for method in methods)
    count = len(datasets) * len(backbones) * rows * len(grid.seeds)
    if count > MAX_RUNS:
        raise MtlbenchError(f"the grid has {count} runs, more than {MAX_RUNS}: split it into several grids")
    return [
        RunSpec(
            method=method,
            dataset=dataset,
            seed=seed,
            backbone=backbone,
            size=grid.size,
            tasks=grid.tasks,
            method_params=freeze_params(params),
            data_options=freeze_params(DATASETS.get(dataset).identity_options() | options.get(dataset, {})),
            backbone_options=freeze_params(check_backbone_options(grid.backbone_options)),
            train=grid.train,
            eval=evaluation,
        )
        for dataset in datasets
        for backbone in backbones
        for method in methods
        for params in variants.get(method, ({},))
        for seed in grid.seeds
    ]


def _baseline_rows(grid: GridSpec) -> list[str]:
    """The grid's methods, with ``ls-tuned`` beside ``ls`` in a tuned grid (the tuned-weights baseline
    every tuned leaderboard shows) and refused in an untuned one (where it would be ``ls`` again)."""
    methods = list(METHODS.expand(grid.methods))
    named = {METHODS.canonical(m) for m in grid.methods if m != "all" and m in METHODS}
    if grid.tune > 0:
        if "ls" in methods and "ls-tuned" not in methods:
            methods.insert(methods.index("ls") + 1, "ls-tuned")
    elif "ls-tuned" in methods:
        if "ls-tuned" in named:
            raise MtlbenchError("ls-tuned tunes ls's task weights under --tune N: add --tune (e.g. --tune 8)")
        methods.remove("ls-tuned")  # "all" without tuning: ls-tuned would be ls again
    return methods


def _single_task_variants(tasks: Sequence[str], given: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """stl's runs: one per task of the grid (a given ``task`` picks one), each training that task alone."""
    out = []
    for params in given:
        if "task" in params:
            if params["task"] not in tasks:
                raise MtlbenchError(f"stl: task {params['task']!r} is not among the grid's tasks {list(tasks)}")
            out.append(dict(params))
        else:
            out.extend({**params, "task": task} for task in tasks)
    return tuple(out)


MAX_RUNS = 100_000
"""A grid larger than this is a typo (a sweep or seed count off by orders of magnitude)."""
MAX_SEEDS = 10_000
"""More seeds than this in one grid is a typo (``seeds = 1000000``), refused before it fills memory."""
SEED_LIMIT = 2**32
"""Seeds are in [0, 2**32): NumPy's legacy seeding, which every run calls, takes no other."""


def parse_seeds(text: str | int | Sequence[int]) -> tuple[int, ...]:
    """ "5" -> seeds 0..4; "1,3,7" -> those seeds; a list stays a list. One-line errors otherwise."""
    expected = 'seeds must be a count ("5": seeds 0-4) or a list of seeds ("1,3,7" or [1, 3, 7])'
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts or not all(p.isdigit() and p.isascii() for p in parts):
            raise MtlbenchError(f"{expected}; got {text[:60]!r}")
        text = [int(p) for p in parts] if "," in text else int(parts[0])
    if isinstance(text, bool) or not isinstance(text, int | list | tuple):
        raise MtlbenchError(f"{expected}; got {text!r}"[:200])
    if isinstance(text, int):
        if not 1 <= text <= MAX_SEEDS:
            raise MtlbenchError(f"seeds = {text}: a count of seeds must be between 1 and {MAX_SEEDS}")
        return tuple(range(text))
    seeds = tuple(text)
    if not seeds or len(seeds) > MAX_SEEDS:
        raise MtlbenchError(f"a list of seeds must hold between 1 and {MAX_SEEDS} seeds; it holds {len(seeds)}")
    if not all(type(s) is int and 0 <= s < SEED_LIMIT for s in seeds):
        raise MtlbenchError(f"{expected}; each seed a whole number in [0, 2**32); got {list(seeds)!r}"[:200])
    if len(set(seeds)) < len(seeds):
        raise MtlbenchError(f"seeds {list(seeds)!r} repeat a seed; give each seed once"[:200])
    return seeds


def check_method_params(method: str, params: Mapping[str, Any]) -> None:
    """Refuse, in one line, hyper-parameters that method ``method`` does not take or accept."""
    cls = METHODS.get(method)
    cls.check_hparam_names(params)
    try:
        cls(**params)
    except TypeError as err:  # e.g. a list where a number belongs, deep in a constructor
        raise MtlbenchError(f"{method}: hyper-parameters {dict(params)} are not accepted ({err})") from None
