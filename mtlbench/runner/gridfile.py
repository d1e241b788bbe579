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
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtlbench.errors import MtlbenchError
from mtlbench.runner.grid import GridSpec, expand, parse_seeds
from mtlbench.textfiles import read_toml, shown
from mtlbench.train.config import EvalConfig, TrainConfig

_LISTS = ("methods", "datasets", "backbones", "tasks")
_TOP_KEYS = {*_LISTS, "seeds", "size", "tune", "train", "eval", "params", "sweep", "data", "backbone", "description"}


def load_grid_file(path: Path) -> dict[str, Any]:
    """Read a grid TOML file into plain settings, with one-line errors for what is wrong.

    Read strictly (UTF-8; TOML refuses duplicate keys) and checked for shape: each key's value
    has the type the grid needs, tables are tables, and every setting is a plain value (text,
    number, boolean, or a flat list of them) so that a run's identity can be hashed and stored.
    """
    path = Path(path)
    if not path.exists():
        raise MtlbenchError(f"grid file {path} does not exist; see baselines/ for examples")
    label = f"grid file {path}"
    raw = read_toml(path, label=label)
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise MtlbenchError(f"{label}: unknown keys {shown(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    try:
        expand(grid_from_settings(raw))  # every check a grid gets, here with the file's name
    except MtlbenchError as err:
        raise MtlbenchError(f"{label}: {err}") from None
    return raw


MAX_VARIANTS = 10_000
"""More hyper-parameter settings than this for one method is a typo, refused before expansion."""
_TABLES = ("train", "eval", "backbone")
_TABLES_OF_TABLES = ("params", "sweep", "data")


def check_settings(settings: Mapping[str, Any]) -> None:
    """Refuse settings of the wrong shape in one line that names the key (file and command-line
    settings alike): what :func:`grid_from_settings` and the run identity can take."""
    for key in _LISTS:
        if key in settings:
            value = settings[key]
            ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            if not ok:
                raise MtlbenchError(f"{key} must be a list of names (or one comma-separated text)")
    for key in ("size", "description"):
        if key in settings and not isinstance(settings[key], str):
            raise MtlbenchError(f"{key} must be a text; it is {shown(settings[key])}")
    tune = settings.get("tune", 0)
    if isinstance(tune, bool) or not isinstance(tune, int) or tune < 0:
        raise MtlbenchError(f"tune must be a whole number of trials (0 = no tuning); it is {shown(tune)}")
    for key in _TABLES:
        _check_table(settings.get(key, {}), key)
    for key in _TABLES_OF_TABLES:
        table = settings.get(key, {})
        if not isinstance(table, Mapping):
            raise MtlbenchError(f"[{key}] must be a table of tables, e.g. [{key}.NAME]")
        for name, inner in table.items():
            _check_table(inner, f"{key}.{name}", options=key == "sweep")


def _plain(value: Any) -> bool:
    """A text, number or boolean, or a flat list of them (bool is an int)."""
    items = value if isinstance(value, list) else [value]
    return all(isinstance(v, str | int | float) for v in items)


def _check_table(table: Any, section: str, *, options: bool = False) -> None:
    """Every value of ``table`` plain; with ``options`` (a sweep), a non-empty list of plain values."""
    if not isinstance(table, Mapping):
        raise MtlbenchError(f"[{section}] must be a table of settings; it is {shown(table)}")
    for key, value in table.items():
        if options and not (isinstance(value, list) and value):
            raise MtlbenchError(f"[{section}] {shown(key)} must be a non-empty list of values to sweep")
        if not all(_plain(v) for v in (value if options else [value])):
            raise MtlbenchError(
                f"[{section}] {shown(key)} = {shown(value)}: a setting must be a text, number, boolean "
                "or a flat list of them"
            )


def grid_from_settings(settings: Mapping[str, Any]) -> GridSpec:
    """Build a GridSpec from file settings merged with command-line overrides (same keys)."""
    check_settings(settings)
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
        keys = list(sweep)
        count = math.prod(len(sweep[k]) for k in keys)
        if count > MAX_VARIANTS:
            raise MtlbenchError(
                f"[sweep.{method}] makes {count} combinations; at most {MAX_VARIANTS} per method: sweep fewer values"
            )
        combos = itertools.product(*(sweep[k] for k in keys)) if keys else [()]
        out[method] = tuple({**fixed, **dict(zip(keys, combo))} for combo in combos)
    return out
