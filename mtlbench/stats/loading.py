"""Read one cell's finished runs from the store into aligned per-example statistics matrices.

Every run of a cell must be scored on the same test examples; they are aligned by example id.
Whatever cannot be used (an unreadable file, examples some runs lack, a metric whose statistics
some run did not store) is said in ``problems`` or ``notes``, never dropped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtlbench.results import EXAMPLES, METRICS, STORE_FIX, read_config, read_examples, read_metrics
from mtlbench.stats.bootstrap import MethodData
from mtlbench.stats.catalogue import METRICS as METRIC_DEFS
from mtlbench.stats.catalogue import MetricDef, variants
from mtlbench.stats.features import Layout, build_blocks
from mtlbench.stats.store import SINGLE_TASK, Cell, RunRef, single_task_label


@dataclass
class CellData:
    """A cell's runs ready for statistics: one MethodData per method with a usable run."""

    title: str
    layout: Layout
    metrics: list[MetricDef]
    methods: list[MethodData]
    n_examples: int
    labeler: str = ""
    uncertain: str = "positive"
    tuning: str = ""
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _read_run(ref: RunRef) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Its examples and metrics, checked by the store's readers (a damaged file: StoreError, a ValueError)."""
    rows = read_examples(ref.path)
    if not rows:
        raise ValueError(f"{EXAMPLES} is empty")
    metrics = read_metrics(ref.path) if (ref.path / METRICS).is_file() else {}
    return rows, metrics


def _nothing_readable(problems: list[str]) -> str:
    unreadable = [p for p in problems if p.startswith("unreadable: ")]
    return "no finished run can be read" + (
        f" (first: {unreadable[0].removeprefix('unreadable: ')})" if unreadable else ""
    )


def _section(metrics: dict[str, Any], key: str) -> dict[str, Any]:
    """A sub-object of metrics.json, or {} where a damaged file holds something else."""
    value = metrics.get(key)
    return value if isinstance(value, dict) else {}


def _tuning_text(metrics: dict[str, Any]) -> str:
    tuning = _section(metrics, "tuning")
    trials = tuning.get("trials") or tuning.get("budget")
    if trials:
        return (
            f"{trials} trials per method (learning rate and the method's own hyper-parameters; ls: the learning rate "
            "only, ls-tuned: its task weights too), chosen on validation"
        )
    return "none (every method at its default hyper-parameters)"


def load_cell(cell: Cell) -> CellData | str:
    """The cell's data, or a one-line reason why nothing in it can be compared."""
    problems = [f"failed: {r.method} seed {r.seed} ({r.reason or 'no reason recorded'})" for r in cell.failed()]
    problems += [f"not finished: {r.method} seed {r.seed} ({r.state})" for r in cell.unfinished()]
    problems += [f"never run: {m} seed {s}" for m, s in cell.missing()]
    problems += [f"{c} finished runs of {m} seed {s}: only the first run id counts" for m, s, c in cell.duplicates()]
    runs: dict[str, list[tuple[RunRef, list[dict[str, Any]]]]] = {}
    first_metrics: dict[str, Any] | None = None
    for method in cell.methods:
        for ref in cell.done(method):
            try:
                rows, metrics = _read_run(ref)
            except (OSError, ValueError, json.JSONDecodeError) as err:
                problems.append(f"unreadable: {method} seed {ref.seed} ({ref.path}: {err})")
                continue
            runs.setdefault(method, []).append((ref, rows))
            first_metrics = first_metrics if first_metrics is not None else metrics
    runs = _join_single_task(runs, cell.key.tasks, problems)
    if not runs:
        return _nothing_readable(problems)
    spec = read_config(next(iter(runs.values()))[0][0].path)[1]
    uncertain = str((spec.get("eval") or {}).get("uncertain", "positive"))
    id_sets = [{row["id"] for row in rows} for method_runs in runs.values() for _, rows in method_runs]
    common = set.intersection(*id_sets)
    union = set.union(*id_sets)
    if not common:
        return "the runs share no test example (different test sets?)"
    if len(common) < len(union):
        problems.append(
            f"{len(union) - len(common)} test examples are missing from some runs; "
            f"every statistic uses the {len(common)} examples all runs have"
        )
    order = sorted(common)
    wanted = {b for key in METRIC_DEFS for d in variants(key) for b in d.blocks}
    built: dict[str, list[tuple[RunRef, dict[str, np.ndarray]]]] = {}
    for method, method_runs in runs.items():
        for ref, rows in method_runs:
            by_id = {row["id"]: row for row in rows}
            try:
                blocks = build_blocks([by_id[i] for i in order], uncertain, wanted)
            except (TypeError, ValueError, KeyError, IndexError) as err:  # statistics of the wrong shape
                problems.append(f"unreadable: {method} seed {ref.seed} ({ref.path / EXAMPLES}: {err}; {STORE_FIX})")
                continue
            built.setdefault(method, []).append((ref, blocks))
    if not built:
        return _nothing_readable(problems)
    metrics, notes = _choose_metrics(built, cell.key.tasks)
    if not metrics:
        return "the runs hold no per-example statistics of any leaderboard metric"
    layout = Layout(tuple(dict.fromkeys(b for d in metrics for b in d.blocks)))
    data = [
        MethodData(
            method,
            tuple(layout.assemble(blocks, len(order)) for _, blocks in method_runs),
            tuple(ref.seed for ref, _ in method_runs),
        )
        for method, method_runs in built.items()
    ]
    most = max(len(m.runs) for m in data)
    problems += [f"{m.name} has {len(m.runs)} of {most} seeds" for m in data if len(m.runs) < most]
    first_metrics = first_metrics or {}
    return CellData(
        title=cell.key.title,
        layout=layout,
        metrics=metrics,
        methods=data,
        n_examples=len(order),
        labeler=str(_section(first_metrics, "eval").get("labeler_description") or spec.get("eval", {}).get("labeler")),
        uncertain=uncertain,
        tuning=_tuning_text(first_metrics),
        notes=notes,
        problems=problems,
    )


def _join_single_task(
    runs: dict[str, list[tuple[RunRef, list[dict[str, Any]]]]], tasks: tuple[str, ...], problems: list[str]
) -> dict[str, list[tuple[RunRef, list[dict[str, Any]]]]]:
    """The single-task runs of each seed joined into one ``stl`` run: each example's row holds the
    report-only run's report statistics and the cls-only run's head outputs (and so on per task).

    A seed whose single-task runs do not cover every task of the cell is left out, and said so.
    """
    labels = {single_task_label(t): t for t in tasks}
    single = {m: r for m, r in runs.items() if m in labels}
    if not single:
        return runs
    out = {m: r for m, r in runs.items() if m not in labels}
    by_seed: dict[int, dict[str, tuple[RunRef, list[dict[str, Any]]]]] = {}
    for method, method_runs in single.items():
        for ref, rows in method_runs:
            by_seed.setdefault(ref.seed, {})[labels[method]] = (ref, rows)
    joined = []
    for seed in sorted(by_seed):
        parts = by_seed[seed]
        missing = [t for t in tasks if t not in parts]
        if missing:
            problems.append(f"{SINGLE_TASK} seed {seed} lacks its single-task run of {', '.join(missing)}: left out")
            continue
        merged: dict[str, dict[str, Any]] = {}
        for task in tasks:  # the report run first: the others add their own task's outputs to its rows
            for row in parts[task][1]:
                merged[row["id"]] = merged.get(row["id"], {}) | row
        first = parts[tasks[0]][0]
        ids = set.intersection(*({row["id"] for row in parts[t][1]} for t in tasks))
        rows = [merged[i] for i in merged if i in ids]
        joined.append((RunRef(first.run_id, first.path, SINGLE_TASK, seed, first.state), rows))
    if joined:
        out[SINGLE_TASK] = joined
    return out


def _choose_metrics(
    built: dict[str, list[tuple[RunRef, dict[str, np.ndarray]]]], tasks: tuple[str, ...] = ()
) -> tuple[list[MetricDef], list[str]]:
    """Per leaderboard metric, the first variant every run can compute; notes on fallbacks and gaps."""
    metrics: list[MetricDef] = []
    notes: list[str] = []
    missing: list[str] = []
    lacking: list[str] = []
    for key in METRIC_DEFS:
        for definition in variants(key):
            if all(all(b in blocks for b in definition.blocks) for runs in built.values() for _, blocks in runs):
                metrics.append(definition)
                if definition.note and definition.note not in notes:
                    notes.append(definition.note)
                break
        else:
            never = not any(
                any(b in blocks for b in METRIC_DEFS[key].blocks) for runs in built.values() for _, blocks in runs
            )
            if METRIC_DEFS[key].task_metric:  # a task of the cell some runs did not score (stored before mtlbench did)
                if METRIC_DEFS[key].task in tasks:
                    lacking.append(METRIC_DEFS[key].label)
            elif not (METRIC_DEFS[key].optional and never):  # an optional metric nobody computed needs no note
                missing.append(METRIC_DEFS[key].label)
    if missing:
        notes.append(f"not reported, as some runs lack their per-example statistics: {', '.join(missing)}")
    if lacking:
        notes.append(
            f"the trained tasks' own metrics ({', '.join(lacking)}) are not reported: some runs predate their "
            "scoring (or a single-task run is missing); Delta_m% covers the tasks reported here only"
        )
    return metrics, notes
