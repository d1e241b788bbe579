"""Declarative grids: TOML files (baselines/*.toml) and command-line options, merged in one place -> GridSpec.

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
[[variants.came-grad]]                   # named settings, each its own row (an ablation)
fuse = false
[[variants.came-grad]]
nu_schedule = "continuous"
[data.synthetic]                         # options of a dataset source
n_train = 480
[backbone]                               # backbone options (mtlbench.backbones.base.BACKBONE_OPTIONS)
beam_size = 3

Every setting has a command-line option of ``mtlbench run`` (:data:`GRID_OPTIONS`); an option
given on the command line overrides the file's setting (``--param`` overrides a ``[sweep]`` of
the same key too, and is refused for a key that ``[[variants]]`` rows set, one value per row).
:func:`grid_from` does the merge, so the CLI only parses, and a new setting is one row of
:data:`GRID_OPTIONS`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtlbench.chexpert import UNCERTAIN_POLICIES
from mtlbench.data.images import DECODES
from mtlbench.errors import MtlbenchError
from mtlbench.methods import METHODS
from mtlbench.metrics.config import EvalConfig
from mtlbench.runner.grid import DEFAULT_DATASETS, DEFAULT_METHODS, DEFAULT_SEEDS, GridSpec, expand, parse_seeds
from mtlbench.textfiles import read_toml, shown
from mtlbench.train.config import PRECISIONS, TrainConfig

_LISTS = ("methods", "datasets", "backbones", "tasks")
_TOP_KEYS = {
    *_LISTS,
    *("seeds", "size", "tune", "train", "eval", "params", "sweep", "variants", "data", "backbone", "description"),
}


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
    variants = settings.get("variants", {})
    if not isinstance(variants, Mapping):
        raise MtlbenchError("[variants] must hold lists of tables, e.g. [[variants.came-grad]] blocks")
    for name, rows in variants.items():
        if not isinstance(rows, list) or not rows:
            raise MtlbenchError(f"variants.{name} must be a list of tables: write one [[variants.{name}]] per setting")
        for row in rows:
            _check_table(row, f"[variants.{name}]")


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
    if "tune" in settings:
        values["tune"] = int(settings["tune"])
    values["train"] = _config(TrainConfig, settings.get("train", {}), "train")
    values["eval"] = _config(EvalConfig, settings.get("eval", {}), "eval")
    params, sweeps = (_by_canonical_method(settings.get(key, {})) for key in ("params", "sweep"))
    listed = {METHODS.canonical(name): rows for name, rows in settings.get("variants", {}).items()}
    values["method_variants"] = _variants(params, sweeps, listed)  # [params.came] and [sweep.came-grad] combine
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
    params: Mapping[str, Mapping[str, Any]],
    sweeps: Mapping[str, Mapping[str, list[Any]]],
    listed: Mapping[str, Any] | None = None,
) -> dict[str, tuple[dict[str, Any], ...]]:
    """Per method, the hyper-parameter settings to run: fixed params, each listed variant (``[[variants.M]]``,
    an ablation's rows: {} = the defaults) over them, times every sweep combination."""
    listed = listed or {}
    out: dict[str, tuple[dict[str, Any], ...]] = {}
    for method in set(params) | set(sweeps) | set(listed):
        fixed = dict(params.get(method, {}))
        sweep = sweeps.get(method, {})
        rows = listed.get(method, [{}])
        keys = list(sweep)
        count = math.prod(len(sweep[k]) for k in keys) * len(rows)
        if count > MAX_VARIANTS:
            raise MtlbenchError(
                f"[sweep.{method}] makes {count} combinations; at most {MAX_VARIANTS} per method: sweep fewer values"
            )
        combos = list(itertools.product(*(sweep[k] for k in keys))) if keys else [()]
        out[method] = tuple({**fixed, **row, **dict(zip(keys, combo))} for row in rows for combo in combos)
    return out


# ---------------------------------------------------------------- command-line options
def _value(text: str) -> Any:
    """A command-line value as JSON when it parses (numbers, true/false, lists), else the string."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON (or a number or nesting JSON cannot take): a text
        return text


def _set(settings: dict[str, Any], option: GridOption, value: Any) -> None:
    (settings.setdefault(option.section, {}) if option.section else settings)[option.key] = value


def _set_data_options(settings: dict[str, Any], option: GridOption, items: tuple[str, ...]) -> None:
    for item in items:
        name_key, sep, raw = item.partition("=")
        dataset, dot, key = name_key.partition(".")
        if not (sep and dot and dataset and key):
            raise MtlbenchError(f"--data-opt {item!r}: expected DATASET.KEY=VALUE, e.g. synthetic.n_train=64")
        settings.setdefault("data", {}).setdefault(dataset, {})[key] = _value(raw)


def _set_backbone_options(settings: dict[str, Any], option: GridOption, items: tuple[str, ...]) -> None:
    for item in items:
        key, sep, raw = item.partition("=")
        if not (sep and key):
            raise MtlbenchError(f"--backbone-opt {item!r}: expected KEY=VALUE, e.g. beam_size=1")
        settings.setdefault("backbone", {})[key] = _value(raw)


def _set_method_params(settings: dict[str, Any], option: GridOption, items: tuple[str, ...]) -> None:
    """``METHOD.KEY=VALUE``; ``all.KEY=VALUE`` for every method of the grid that takes KEY; a bare
    ``KEY=VALUE`` when the grid has one method. Checked against each method's signature."""
    if not items:
        return
    grid_methods = METHODS.expand(settings.get("methods", DEFAULT_METHODS))
    params = _by_canonical_method(settings.setdefault("params", {}))
    sweeps = _by_canonical_method(settings.get("sweep", {}))
    settings["params"] = params
    if sweeps:
        settings["sweep"] = sweeps
    for item in items:
        target, sep, raw = item.partition("=")
        method, dot, key = target.rpartition(".")
        if not (sep and key):
            raise MtlbenchError(f"--param {item!r}: expected METHOD.KEY=VALUE, e.g. came-grad.rho=0.3")
        if not dot:
            if len(grid_methods) != 1:
                raise MtlbenchError(
                    f"--param {item!r}: the grid has several methods ({', '.join(grid_methods)}); "
                    f"name one, e.g. --param {grid_methods[-1]}.{key}={raw}, or all.{key}={raw}"
                )
            targets = grid_methods
        elif method == "all":
            targets = [m for m in grid_methods if key in METHODS.get(m).hparam_names()]
            if not targets:
                raise MtlbenchError(
                    f"--param {item!r}: no method of the grid ({', '.join(grid_methods)}) takes {key!r}"
                )
        else:
            name = METHODS.canonical(method)
            if name not in grid_methods:
                methods = ", ".join(grid_methods)
                raise MtlbenchError(
                    f"--param {item!r}: {name} is not in the grid's methods ({methods}); add it to --methods"
                )
            targets = [name]
        rows = _by_canonical_rows(settings.get("variants", {}))
        for name in targets:  # names and values are checked with the whole setting, by expand()
            if any(key in row for row in rows.get(name, ())):
                raise MtlbenchError(
                    f"--param {item!r}: the grid's [[variants.{name}]] rows set {key!r} themselves, one value "
                    f"per row; drop the --param or the rows' {key}"
                )
            params.setdefault(name, {})[key] = _value(raw)
            sweeps.get(name, {}).pop(key, None)  # the command line overrides the file's sweep of this key


def _by_canonical_rows(table: Mapping[str, Any]) -> dict[str, list[Any]]:
    """[[variants]] rows keyed by canonical method names (rows of an alias and its name join)."""
    out: dict[str, list[Any]] = {}
    for name, rows in table.items():
        out.setdefault(METHODS.canonical(name), []).extend(rows if isinstance(rows, list) else [])
    return out


def _by_canonical_method(table: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """A [params] or [sweep] table keyed by canonical method names (an alias and its name merge)."""
    out: dict[str, dict[str, Any]] = {}
    for name, values in table.items():
        out.setdefault(METHODS.canonical(name), {}).update(values)
    return out


@dataclass(frozen=True)
class GridOption:
    """One option of ``mtlbench run`` that sets a grid setting: its command-line form and where it goes.

    ``section`` None is the top level of the grid file, else its ``[train]`` / ``[eval]`` table.
    ``merge`` (repeatable options) folds the given items into the settings itself.
    """

    name: str
    """The option's name: ``--batch-size`` is "batch_size"."""
    section: str | None
    key: str
    help: str
    type: type = str
    default: Any = None
    choices: tuple[str, ...] = ()
    flag: bool = False
    """A --NAME/--no-NAME switch."""
    metavar: str | None = None
    merge: Callable[[dict[str, Any], GridOption, tuple[str, ...]], None] | None = None
    """For a repeatable option: how its items enter the settings (default: the value is set)."""

    def apply(self, settings: dict[str, Any], value: Any) -> None:
        if self.merge is not None:
            self.merge(settings, self, tuple(value))
        else:
            _set(settings, self, value)


GRID_OPTIONS: tuple[GridOption, ...] = (
    GridOption(
        "methods",
        None,
        "methods",
        "Comma-separated method names or aliases, or 'all' (see `mtlbench list methods`).",
        default=",".join(DEFAULT_METHODS),
    ),
    GridOption(
        "datasets",
        None,
        "datasets",
        "Comma-separated datasets: synthetic, iu (iu_xray), mimic (mimic_cxr).",
        default=",".join(DEFAULT_DATASETS),
    ),
    GridOption("backbones", None, "backbones", "Comma-separated backbones.", default="transformer"),
    GridOption(
        "seeds",
        None,
        "seeds",
        "N for seeds 0..N-1, or an explicit list such as 1,4,7.",
        default=str(DEFAULT_SEEDS),
    ),
    GridOption("tasks", None, "tasks", "Tasks trained jointly (K = their number).", default="report,cls"),
    GridOption("size", None, "size", "Backbone size: tiny (CPU) or paper.", default="tiny"),
    GridOption("epochs", "train", "epochs", "Training epochs of every run.", type=int, default=TrainConfig.epochs),
    GridOption("batch_size", "train", "batch_size", "Training batch size.", type=int, default=TrainConfig.batch_size),
    GridOption("lr", "train", "lr", "Learning rate (AdamW).", type=float, default=TrainConfig.lr),
    GridOption("image_size", "train", "image_size", "Image side in pixels.", type=int, default=TrainConfig.image_size),
    GridOption(
        "cls_uncertain",
        "train",
        "cls_uncertain",
        "How CheXpert 'uncertain' labels become targets of the cls task (U-Ones or U-Zeros).",
        choices=UNCERTAIN_POLICIES,
        default=TrainConfig.cls_uncertain,
    ),
    GridOption("labeler", "eval", "labeler", "CE labeler: rules or chexbert.", default=EvalConfig.labeler),
    GridOption(
        "uncertain",
        "eval",
        "uncertain",
        "How CE counts CheXpert 'uncertain'.",
        choices=UNCERTAIN_POLICIES,
        default=EvalConfig.uncertain,
    ),
    GridOption("meteor", "eval", "meteor", "METEOR needs Java.", type=bool, default=EvalConfig.meteor, flag=True),
    GridOption(
        "precision",
        "train",
        "precision",
        "Training precision: fp32, or mixed precision under autocast (bf16; fp16 with a gradient scaler). "
        "Part of the run id.",
        choices=PRECISIONS,
        default=TrainConfig.precision,
    ),
    GridOption(
        "augment",
        "train",
        "augment",
        "R2Gen's random crop and flip on training images (--no-augment: the eval transform). Part of the run id.",
        type=bool,
        default=TrainConfig.augment,
        flag=True,
    ),
    GridOption(
        "image_decode",
        "train",
        "image_decode",
        "JPEG decoding: full, or reduced (DCT scaling to the target size: several times faster on "
        "full-resolution files, slightly different pixels). Part of the run id.",
        choices=DECODES,
        default=TrainConfig.image_decode,
    ),
    GridOption(
        "eval_metrics",
        "eval",
        "metrics",
        "Extra metric families every run computes on its test outputs, e.g. bertscore,radgraph "
        "(`mtlbench list metrics`; part of the run ids when given). Their weights: --models-dir.",
        default="",
    ),
    GridOption(
        "tune",
        None,
        "tune",
        "Give every method (ls included) N trials over lr and its own hyper-parameters, chosen on validation.",
        type=int,
        default=0,
    ),
    GridOption(
        "backbone_opt",
        "backbone",
        "",
        "A backbone option: beam_size, block_trigrams, extractor (cnn|resnet101), extractor_weights "
        "(a local torchvision resnet101 state_dict, relative to --data-root) (repeatable).",
        metavar="KEY=VALUE",
        merge=_set_backbone_options,
    ),
    GridOption(
        "data_opt",
        "data",
        "",
        "A dataset source option, e.g. synthetic.n_train=64 (repeatable).",
        metavar="DATASET.KEY=VALUE",
        merge=_set_data_options,
    ),
    GridOption(
        "param",
        "params",
        "",
        "A method hyper-parameter, e.g. came-grad.rho=0.3 (repeatable; as a grid file's [params.METHOD]); "
        "all.KEY=VALUE sets KEY of every method that takes it; a bare KEY=VALUE needs a single method. "
        "See `mtlbench describe METHOD`.",
        metavar="METHOD.KEY=VALUE",
        merge=_set_method_params,
    ),
)
"""Every grid setting's command-line option, in the order they are applied (params last: they need the methods)."""


def grid_from(path: Path | None, options: Mapping[str, Any]) -> GridSpec:
    """The grid of grid file ``path`` (None: the defaults) with command-line ``options`` on top.

    ``options``: the options the user gave, by :class:`GridOption` name (raw values as parsed
    from the command line; repeatable ones as tuples of ``KEY=VALUE`` strings).
    """
    unknown = sorted(set(options) - {option.name for option in GRID_OPTIONS})
    if unknown:
        raise MtlbenchError(f"unknown grid options {unknown}")
    settings: dict[str, Any] = load_grid_file(path) if path is not None else {}
    for option in GRID_OPTIONS:
        if option.name in options:
            option.apply(settings, options[option.name])
    return grid_from_settings(settings)
