"""Declarative grids: TOML files (baselines/*.toml) and command-line overrides -> GridSpec.

methods = ["ls", "pcgrad", "cagrad"]     # or "all"
datasets = ["synthetic"]
backbones = ["transformer"]
seeds = 5                                # or [0, 3, 7]
size = "tiny"
tasks = ["report", "cls"]
tune = 0                                 # trials per method over lr and its hyper-parameters

[train]                                  # any TrainConfig field
epochs = 6
[eval]                                   # any EvalConfig field
labeler = "rules"
[params.cagrad]                          # fixed hyper-parameters of one method
c = 0.4
[sweep.cagrad]                           # a sweep: every combination is its own row
c = [0.2, 0.4, 0.6]
[data.synthetic]                         # options of a dataset source
n_train = 480
[backbone]                               # backbone options (mtlbench.backbones.base.BACKBONE_OPTIONS)
beam_size = 3
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtlbench.errors import MtlbenchError
from mtlbench.runner.grid import GridSpec, parse_seeds
from mtlbench.train.config import EvalConfig, TrainConfig

_LISTS = ("methods", "datasets", "backbones", "tasks")
_TOP_KEYS = {*_LISTS, "seeds", "size", "tune", "train", "eval", "params", "sweep", "data", "backbone", "description"}


def load_grid_file(path: Path) -> dict[str, Any]:
    """Read a grid TOML file into plain settings, with one-line errors for what is wrong."""
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise MtlbenchError(f"grid file {path} does not exist; see baselines/ for examples") from None
    except tomllib.TOMLDecodeError as err:
        raise MtlbenchError(f"grid file {path} is not valid TOML: {err}") from None
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise MtlbenchError(f"grid file {path}: unknown keys {unknown}; allowed: {sorted(_TOP_KEYS)}")
    return raw


def grid_from_settings(settings: Mapping[str, Any]) -> GridSpec:
    """Build a GridSpec from file settings merged with command-line overrides (same keys)."""
    base = GridSpec()
    values: dict[str, Any] = {}
    for key in _LISTS:
        if key in settings:
            item = settings[key]
            values[key] = tuple(item.split(",")) if isinstance(item, str) else tuple(item)
    if "seeds" in settings:
        values["seeds"] = parse_seeds(settings["seeds"])
    if "size" in settings:
        values["size"] = settings["size"]
    values["train"] = _config(TrainConfig, settings.get("train", {}), "train")
    values["eval"] = _config(EvalConfig, settings.get("eval", {}), "eval")
    values["method_variants"] = _variants(settings.get("params", {}), settings.get("sweep", {}))
    values["data_options"] = {name: dict(opts) for name, opts in settings.get("data", {}).items()}
    values["backbone_options"] = dict(settings.get("backbone", {}))
    return dataclasses.replace(base, **values)


def _config(cls: type, values: Mapping[str, Any], section: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise MtlbenchError(f"[{section}] has unknown settings {unknown}; allowed: {sorted(names)}")
    return cls(**values)


def _variants(
    params: Mapping[str, Mapping[str, Any]], sweeps: Mapping[str, Mapping[str, list[Any]]]
) -> dict[str, tuple[dict[str, Any], ...]]:
    """Per method, the hyper-parameter settings to run: fixed params times every sweep combination."""
    out: dict[str, tuple[dict[str, Any], ...]] = {}
    for method in set(params) | set(sweeps):
        fixed = dict(params.get(method, {}))
        sweep = sweeps.get(method, {})
        for key, options in sweep.items():
            if not isinstance(options, list) or not options:
                raise MtlbenchError(f"[sweep.{method}] {key} must be a non-empty list of values")
        keys = list(sweep)
        combos = itertools.product(*(sweep[k] for k in keys)) if keys else [()]
        out[method] = tuple({**fixed, **dict(zip(keys, combo))} for combo in combos)
    return out
