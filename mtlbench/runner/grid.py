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
    methods = METHODS.expand(grid.methods)
    datasets = DATASETS.expand(grid.datasets)
    backbones = BACKBONES.expand(grid.backbones)
    variants = {METHODS.canonical(name): tuple(v) for name, v in grid.method_variants.items()}
    for name in methods:
        for params in variants.get(name, ({},)):
            check_method_params(name, params)
    evaluation = dataclasses.replace(grid.eval, metrics=extra_families(grid.eval.metrics))
    options = {DATASETS.canonical(name): dict(values) for name, values in grid.data_options.items()}
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


def parse_seeds(text: str | int | Sequence[int]) -> tuple[int, ...]:
    """ "5" -> seeds 0..4; "1,3,7" -> those seeds; a list stays a list."""
    if isinstance(text, int):
        return tuple(range(text))
    if not isinstance(text, str):
        return tuple(int(s) for s in text)
    text = text.strip()
    if "," in text:
        return tuple(int(s) for s in text.split(",") if s.strip())
    return tuple(range(int(text)))


def check_method_params(method: str, params: Mapping[str, Any]) -> None:
    """Refuse, in one line, hyper-parameters that method ``method`` does not take or accept."""
    cls = METHODS.get(method)
    cls.check_hparam_names(params)
    try:
        cls(**params)
    except TypeError as err:  # e.g. a list where a number belongs, deep in a constructor
        raise MtlbenchError(f"{method}: hyper-parameters {dict(params)} are not accepted ({err})") from None
