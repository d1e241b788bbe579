"""The on-disk layout of a result store, shared by the runner (writer) and stats (reader).

    RESULTS/runs/<run_id>/
        config.json      {"run_id": ..., "spec": {...the RunSpec...}}
        status.json      {"state": "running" | "done" | "failed", "reason", "traceback", "started", "finished",
                          "attempts", "completions", "host", "pid", "scheduler_job", "environment": {...versions}}
        metrics.json     {"test": {metric: value}, "val": {...}, "best_epoch", "epochs", "diagnostics",
                          "eval": {"labeler", "uncertain", "metrics" (the extra families the run computed),
                                   "added_metrics" (those `mtlbench rescore` added later)}}
        examples.jsonl   one line per test example: {"id", "generated", "reference",
                          "labels_generated", "labels_reference", "stats": {...sufficient statistics}}
        train_log.jsonl  one line per logged step or epoch ("resume" marks a restart from the checkpoint)
        checkpoint.pt    while a run is in progress: its state after the last finished epoch

Every file is written whole to a temporary name and renamed into place, so a reader sees
either the previous version or the new one, never a truncated file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNS_DIR = "runs"
CONFIG = "config.json"
STATUS = "status.json"
METRICS = "metrics.json"
EXAMPLES = "examples.jsonl"
TRAIN_LOG = "train_log.jsonl"
CHECKPOINT = "checkpoint.pt"

DONE, RUNNING, FAILED = "done", "running", "failed"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder, fsync'd, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n")


def atomic_write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    atomic_write_text(path, "".join(json.dumps(_jsonable(row), sort_keys=True) + "\n" for row in rows))


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_jsonl(path: Path) -> list[Any]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _jsonable(obj: Any) -> Any:
    """NaN and inf are not JSON: store them as null (blank labels) or strings (diverged losses)."""
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


@dataclass(frozen=True)
class RunRecord:
    """What a finished or attempted run left in the store."""

    run_id: str
    path: Path
    spec: dict[str, Any]
    status: dict[str, Any]

    @property
    def state(self) -> str:
        return self.status.get("state", "pending")

    def metrics(self) -> dict[str, Any]:
        return read_json(self.path / METRICS)

    def examples(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path / EXAMPLES)


def read_train_log(path: Path) -> list[dict[str, Any]]:
    """The "step" and "epoch" entries of a training log as they stand after every restart.

    A "resume" marker at (epoch E, step S) supersedes what the interrupted attempt had logged from
    step S and epoch E on (the resumed run logs them again). A line that is not JSON (the last one,
    cut by a kill mid-write) is skipped; a missing log reads as empty.
    """
    entries: list[dict[str, Any]] = []
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return entries
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        kind = entry.get("kind")
        if kind == "resume":
            epoch, step = int(entry.get("epoch", 0)), int(entry.get("step", 0))
            entries = [
                e
                for e in entries
                if not (e.get("kind") == "step" and int(e.get("step", 0)) >= step)
                and not (e.get("kind") == "epoch" and int(e.get("epoch", 0)) >= epoch)
            ]
        elif kind in ("step", "epoch"):
            entries.append(entry)
    return entries


def run_dir(results: Path, run_id: str) -> Path:
    return Path(results) / RUNS_DIR / run_id


def iter_runs(results: Path) -> Iterator[RunRecord]:
    """Every run folder with a readable config, in run_id order; status 'pending' if none yet."""
    root = Path(results) / RUNS_DIR
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        config_path = folder / CONFIG
        if not config_path.is_file():
            continue
        config = read_json(config_path)
        status_path = folder / STATUS
        status = read_json(status_path) if status_path.is_file() else {"state": "pending"}
        yield RunRecord(run_id=config["run_id"], path=folder, spec=config["spec"], status=status)
