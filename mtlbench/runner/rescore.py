"""Add metric families to finished runs from their stored predictions, without training again.

A done run's ``examples.jsonl`` holds every generated and reference report; the named families
score them, their per-example statistics join each example's ``stats`` and their corpus figures
join ``metrics.json["test"]``, so reports and tests see them like metrics computed in the run.
The run's identity is untouched: config.json, status.json and the run id stay as they were, and
``metrics.json["eval"]["added_metrics"]`` says what was added afterwards (a run whose grid asked
for a metric, ``eval.metrics``, is another run with another id).

Each run is rewritten atomically, examples first and metrics.json last: a run whose metrics.json
already has a family's figures is skipped for that family, so an interrupted rescore repeated
with the same command finishes the rest and redoes at most the run it was in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mtlbench.errors import MtlbenchError
from mtlbench.metrics import METRICS, Evaluation, ModelPaths, evaluate, family_status
from mtlbench.metrics.evaluate import extra_families, merge
from mtlbench.results import DONE, EXAMPLES, RunRecord, atomic_write_json, atomic_write_jsonl, iter_runs
from mtlbench.results import METRICS as METRICS_FILE
from mtlbench.runner.spec import RunSpec

ADDED, SCORED, NO_REPORTS, REFUSED = "added", "already scored", "no reports", "refused"


@dataclass(frozen=True)
class Rescored:
    """What rescoring did to one run."""

    run_id: str
    label: str
    outcome: str
    detail: str

    def __str__(self) -> str:
        return f"{self.run_id} {self.label}: {self.outcome}{': ' + self.detail if self.detail else ''}"


def _label(record: RunRecord) -> str:
    spec = record.spec
    return f"{spec.get('method')} {spec.get('dataset')} seed {spec.get('seed')}"


def rescore_run(record: RunRecord, families: Sequence[str], paths: ModelPaths) -> Rescored:
    """Add ``families`` to one run of the store (refused unless it is done; skipped when it writes no reports)."""
    if record.state != DONE:
        return Rescored(record.run_id, _label(record), REFUSED, f"it is {record.state}, not done")
    if "report" not in RunSpec.from_dict(record.spec).trained_tasks:
        return Rescored(record.run_id, _label(record), NO_REPORTS, "a single-task model of another task: skipped")
    metrics = record.metrics()
    test = metrics.setdefault("test", {})
    todo = [name for name in families if not all(key in test for key in METRICS.get(name).keys)]
    if not todo:
        return Rescored(record.run_id, _label(record), SCORED, ", ".join(families))
    rows = record.examples()
    ids, generated, reference = ([row[key] for row in rows] for key in ("id", "generated", "reference"))
    config = RunSpec.from_dict(record.spec).eval
    extra = evaluate(ids, generated, reference, config=config, metrics=todo, paths=paths)
    merged = merge(Evaluation({}, {}, [row | {"stats": row.get("stats", {})} for row in rows]), extra)
    atomic_write_jsonl(record.path / EXAMPLES, merged.per_example)
    test |= extra.corpus
    evaluation = metrics.setdefault("eval", {})
    evaluation["added_metrics"] = sorted(set(evaluation.get("added_metrics", [])) | set(todo))
    atomic_write_json(record.path / METRICS_FILE, metrics)
    figures = ", ".join(f"{key} {value:.4f}" for key, value in extra.corpus.items())
    return Rescored(record.run_id, _label(record), ADDED, figures)


def rescore_store(
    results: Path,
    names: Sequence[str],
    paths: ModelPaths,
    on_run: Callable[[Rescored], None] = lambda outcome: None,
) -> list[Rescored]:
    """Add the named metric families to every done run under ``results``; one outcome per run."""
    families = extra_families(names)
    status = family_status(paths)
    blocked = [f"{name}: {status[name]}" for name in families if status.get(name)]
    if blocked:
        raise MtlbenchError(
            f"cannot add {blocked[0]}" + (f" (and {len(blocked) - 1} more)" if len(blocked) > 1 else "")
        )
    runs = list(iter_runs(results))
    if not runs:
        raise MtlbenchError(f"{results} holds no runs (expected {results}/runs/<run_id>/config.json)")
    outcomes = []
    for record in runs:
        outcome = rescore_run(record, families, paths)
        on_run(outcome)
        outcomes.append(outcome)
    return outcomes
