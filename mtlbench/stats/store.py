"""Group the runs of a result store into leaderboard cells, and say what each cell lacks.

A cell is (dataset, backbone, size, tasks): the methods in it are compared on the same test
examples, seeds are the replicate dimension. Runs whose other settings differ (training or
evaluation config, dataset or backbone options) are never pooled: they form separate cells,
told apart by a short ``setting`` tag only where a (dataset, backbone, size, tasks) has several.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtlbench.results import DONE, FAILED, RunRecord, iter_runs

TUNED_TRAIN_FIELDS = ("lr",)
"""Training settings a tuning budget searches (see mtlbench.runner.tuning): they may differ between
the methods of one tuned cell, so they do not split it."""


SINGLE_TASK = "stl"
"""The single-task baselines' method: its runs (one per task) form one leaderboard row."""


def single_task_label(task: str) -> str:
    """The label of the single-task run of ``task`` before the leaderboard joins them into ``stl``."""
    return f"{SINGLE_TASK}(task={task})"


def part_of(label: str, row: str) -> bool:
    """Whether runs labelled ``label`` feed the leaderboard row ``row`` (a single-task run the ``stl`` row)."""
    return row == SINGLE_TASK and label.startswith(f"{SINGLE_TASK}(task=")


def method_label(spec: dict[str, Any]) -> str:
    """The method's display name with non-default hyper-parameters, as ``RunSpec.label`` writes it:
    a tuned run is named by its method alone (its chosen setting is the tuning's outcome)."""
    params = spec.get("method_params") or {}
    if spec.get("method") == SINGLE_TASK:  # one run per task, joined into one row by stats.loading
        return single_task_label(str(params.get("task", "report")))
    if not params or spec.get("tuning"):
        return str(spec["method"])
    frozen = sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items())
    return f"{spec['method']}({','.join(f'{k}={v}' for k, v in frozen)})"


@dataclass(frozen=True, order=True)
class CellKey:
    dataset: str
    backbone: str
    size: str
    tasks: tuple[str, ...]
    setting: str = ""
    """The settings in which this cell differs from others of the same (dataset, backbone, size, tasks),
    e.g. "train.epochs=6"; empty when there is only one."""

    @property
    def title(self) -> str:
        text = f"{self.dataset} / {self.backbone}-{self.size} / tasks {'+'.join(self.tasks)}"
        return f"{text} [{self.setting}]" if self.setting else text


@dataclass(frozen=True)
class RunRef:
    """One run of a cell as the store describes it."""

    run_id: str
    path: Path
    method: str
    seed: int
    state: str
    reason: str = ""


@dataclass(frozen=True)
class Cell:
    key: CellKey
    runs: tuple[RunRef, ...]

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(sorted({r.method for r in self.runs}))

    @property
    def seeds(self) -> tuple[int, ...]:
        """Every seed any run of the cell uses: the grid the cell was meant to fill."""
        return tuple(sorted({r.seed for r in self.runs}))

    def done(self, method: str) -> tuple[RunRef, ...]:
        """Finished runs of ``method``, one per seed (the first run_id if a seed repeats), by seed."""
        by_seed: dict[int, RunRef] = {}
        for run in sorted(self.runs, key=lambda r: (r.seed, r.run_id)):
            if run.method == method and run.state == DONE:
                by_seed.setdefault(run.seed, run)
        return tuple(by_seed[s] for s in sorted(by_seed))

    def failed(self) -> tuple[RunRef, ...]:
        return tuple(r for r in self.runs if r.state == FAILED)

    def unfinished(self) -> tuple[RunRef, ...]:
        """Runs recorded but neither done nor failed (running, killed, pending)."""
        return tuple(r for r in self.runs if r.state not in (DONE, FAILED))

    def duplicates(self) -> tuple[tuple[str, int, int], ...]:
        """(method, seed, count) where several finished runs share a method and seed (only the first
        run_id counts; they differ in something the cell key does not show)."""
        counts: dict[tuple[str, int], int] = defaultdict(int)
        for run in self.runs:
            if run.state == DONE:
                counts[(run.method, run.seed)] += 1
        return tuple((m, s, c) for (m, s), c in sorted(counts.items()) if c > 1)

    def missing(self) -> tuple[tuple[str, int], ...]:
        """(method, seed) pairs of the cell's grid with no run folder at all."""
        present = {(r.method, r.seed) for r in self.runs}
        return tuple((m, s) for m in self.methods for s in self.seeds if (m, s) not in present)


COMPARED_FIELDS = frozenset({"method", "method_params", "seed", "tuning", "dataset", "backbone", "size", "tasks"})
"""Spec fields that vary inside a cell (what is compared, the replicate) or name the cell; every
other field (training, evaluation, data and backbone options, future ones) splits cells."""


def _setting(spec: dict[str, Any]) -> dict[str, Any]:
    """The settings that must be equal for runs to share a cell, flattened to dotted keys."""
    keep: dict[str, Any] = {k: v for k, v in spec.items() if k not in COMPARED_FIELDS}
    tuning = spec.get("tuning") or {}
    if tuning:  # tuned runs share a cell whatever learning rate each method's tuning chose
        keep["train"] = {k: v for k, v in (keep.get("train") or {}).items() if k not in TUNED_TRAIN_FIELDS}
        keep["tuning_budget"] = tuning.get("budget")
    flat: dict[str, Any] = {}
    for key, value in keep.items():
        if isinstance(value, dict):
            flat |= {f"{key}.{k}": v for k, v in value.items()}
        else:
            flat[key] = value
    return flat


def _fingerprint(setting: dict[str, Any]) -> str:
    return json.dumps(setting, sort_keys=True, separators=(",", ":"), default=str)


def _tags(settings: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Per fingerprint, the settings in which it differs from the others of its (dataset, backbone, ...)."""
    if len(settings) < 2:
        return dict.fromkeys(settings, "")
    keys = sorted({k for s in settings.values() for k in s})
    varying = [k for k in keys if len({json.dumps(s.get(k), default=str) for s in settings.values()}) > 1]
    tags = {}
    for fingerprint, setting in settings.items():
        text = ", ".join(f"{k}={setting.get(k)}" for k in varying)
        tags[fingerprint] = text if len(text) <= 80 else text[:77] + "..."
    return tags


def _base_key(spec: dict[str, Any]) -> tuple[str, str, str, tuple[str, ...]]:
    return (
        str(spec["dataset"]),
        str(spec.get("backbone", "transformer")),
        str(spec.get("size", "tiny")),
        tuple(spec.get("tasks", ("report", "cls"))),
    )


def group_cells(records: Iterable[RunRecord]) -> list[Cell]:
    """Cells of the given runs, in key order."""
    by_base: dict[tuple, dict[str, list[RunRef]]] = defaultdict(lambda: defaultdict(list))
    settings_of: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    for rec in records:
        spec = rec.spec
        ref = RunRef(
            run_id=rec.run_id,
            path=rec.path,
            method=method_label(spec),
            seed=int(spec["seed"]),
            state=rec.state,
            reason=str(rec.status.get("reason") or ""),
        )
        setting = _setting(spec)
        fingerprint = _fingerprint(setting)
        by_base[_base_key(spec)][fingerprint].append(ref)
        settings_of[_base_key(spec)][fingerprint] = setting
    cells = []
    for base, groups in by_base.items():
        tags = _tags(settings_of[base])
        for fingerprint, refs in groups.items():
            key = CellKey(*base, setting=tags[fingerprint])
            cells.append(Cell(key, tuple(sorted(refs, key=lambda r: r.run_id))))
    return sorted(cells, key=lambda c: c.key)


def scan(results: Path) -> list[Cell]:
    """Every cell of the result store at ``results`` (reads config and status files only)."""
    return group_cells(iter_runs(Path(results)))
