"""Group the runs of a result store into leaderboard cells, and say what each cell lacks.

A cell is (dataset, backbone, size, tasks): the methods in it are compared on the same test
examples, seeds are the replicate dimension. Runs whose other settings differ (training or
evaluation config, dataset options) are never pooled: they form separate cells, told apart
by a short ``setting`` tag only where a (dataset, backbone, size, tasks) has several.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtlbench.results import DONE, FAILED, RunRecord, iter_runs


def method_label(spec: dict[str, Any]) -> str:
    """The method's display name with non-default hyper-parameters, as ``RunSpec.label`` writes it."""
    params = spec.get("method_params") or {}
    if not params:
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
    """Short hash of the training/evaluation/data settings; shown only when needed to tell cells apart."""

    @property
    def title(self) -> str:
        text = f"{self.dataset} / {self.backbone}-{self.size} / tasks {'+'.join(self.tasks)}"
        return f"{text} [setting {self.setting}]" if self.setting else text


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

    def missing(self) -> tuple[tuple[str, int], ...]:
        """(method, seed) pairs of the cell's grid with no run folder at all."""
        present = {(r.method, r.seed) for r in self.runs}
        return tuple((m, s) for m in self.methods for s in self.seeds if (m, s) not in present)


def _setting_fingerprint(spec: dict[str, Any]) -> str:
    keep = {k: spec.get(k) for k in ("train", "eval", "data_options")}
    canonical = json.dumps(keep, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:6]


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
        by_base[_base_key(spec)][_setting_fingerprint(spec)].append(ref)
    cells = []
    for base, settings in by_base.items():
        for setting, refs in settings.items():
            tag = setting if len(settings) > 1 else ""
            cells.append(Cell(CellKey(*base, setting=tag), tuple(sorted(refs, key=lambda r: r.run_id))))
    return sorted(cells, key=lambda c: c.key)


def scan(results: Path) -> list[Cell]:
    """Every cell of the result store at ``results`` (reads config and status files only)."""
    return group_cells(iter_runs(Path(results)))
