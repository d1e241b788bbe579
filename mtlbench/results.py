"""The on-disk layout of a result store, shared by the runner (writer) and stats (reader).

    RESULTS/runs/<run_id>/
        config.json      {"run_id": ..., "spec": {...the RunSpec...}}
        status.json      {"state": "running" | "done" | "failed", "reason", "traceback", "started", "finished",
                          "attempts", "completions", "host", "pid", "scheduler_job", "environment": {...versions}}
        metrics.json     {"test": {metric: value}, "val": {...}, "best_epoch", "epochs", "diagnostics",
                          "eval": {"labeler", "uncertain", "texts": {"empty_predictions", ...},
                                   "metrics" (the extra families the run computed),
                                   "added_metrics" (those `mtlbench rescore` added later)}}
        examples.jsonl   one line per test example: {"id", "generated", "reference",
                          "labels_generated", "labels_reference", "stats": {...sufficient statistics}}
        train_log.jsonl  one line per logged step or epoch; {"kind": "checkpoint", "step"} marks each saved
                          state and {"kind": "resume"} a restart from one (trackers replay up to the mark)
        checkpoint.pt    while a run is in progress: its latest saved state (mid-epoch or after an epoch)
        checkpoint.prev.pt  the one before it, used when the latest is damaged (mtlbench.train.checkpoint)
        lease.json       while a process trains the run: who (mtlbench.runner.lease)

Every file is written whole to a temporary name and renamed into place, so a reader sees
either the previous version or the new one, never a truncated file. Readers still check what
they read (a disk, a copy or a hand can damage a file): a damaged file raises
:class:`~mtlbench.errors.StoreError` in one line naming it, except a damaged status.json, which
makes the run "damaged" (neither done nor failed: reported as unfinished, redone by a re-run).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mtlbench import textfiles
from mtlbench.errors import StoreError

RUNS_DIR = "runs"
CONFIG = "config.json"
STATUS = "status.json"
METRICS = "metrics.json"
EXAMPLES = "examples.jsonl"
TRAIN_LOG = "train_log.jsonl"
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
CHECKPOINTS = (CHECKPOINT, PREVIOUS_CHECKPOINT)
LEASE = "lease.json"

DONE, RUNNING, FAILED = "done", "running", "failed"
DAMAGED = "damaged"
"""The state a reader gives a run whose status.json is damaged: neither done nor failed, so a
report lists it as unfinished and a re-run of its grid redoes it."""
STATES = (DONE, RUNNING, FAILED, "pending")


def write_file_atomically(
    path: Path, chunks: Iterable[bytes], *, before_rename: Callable[[], None] | None = None
) -> None:
    """Write ``chunks`` to ``path`` via a temporary file in the same folder, fsync'd, then renamed.

    Every write of the store goes through here, so a failing disk (ENOSPC, EIO, a read-only
    store) raises :class:`OSError` with the earlier version of ``path`` untouched and no
    temporary file left behind. ``before_rename`` runs once the new content is whole on disk.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                _write(handle, chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(handle: BinaryIO, chunk: bytes) -> None:
    """The one place store bytes reach a file (the tests inject disk faults here)."""
    handle.write(chunk)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`write_file_atomically`)."""
    write_file_atomically(path, [text.encode("utf-8")])


def has_checkpoint(folder: Path) -> bool:
    """Whether a run folder holds a checkpoint to resume from (latest or previous)."""
    return any((Path(folder) / name).is_file() for name in CHECKPOINTS)


def remove_checkpoints(folder: Path) -> None:
    for name in CHECKPOINTS:
        (Path(folder) / name).unlink(missing_ok=True)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n")


def atomic_write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    atomic_write_text(path, "".join(json.dumps(_jsonable(row), sort_keys=True) + "\n" for row in rows))


STORE_FIX = "the run folder is damaged: delete it, and a re-run of the grid that made it redoes the run"


def read_json(path: Path) -> Any:
    """A JSON file of the store; a damaged one raises :class:`StoreError` naming it, the place and the fix."""
    return textfiles.read_json(path, error=StoreError, fix=STORE_FIX)


def read_jsonl(path: Path) -> list[Any]:
    """A JSON Lines file of the store (one value per line); damage raises :class:`StoreError`."""
    return textfiles.read_jsonl(path, error=StoreError, fix=STORE_FIX)


def as_stored(obj: Any) -> Any:
    """``obj`` as a reader of the store gets it back (NaN as null, tuples as lists): to verify a write."""
    return json.loads(json.dumps(_jsonable(obj)))


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
        return read_metrics(self.path)

    def examples(self) -> list[dict[str, Any]]:
        return read_examples(self.path)


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


def _damage(path: Path, problem: str) -> StoreError:
    return StoreError(f"{path}: {problem}; {STORE_FIX}")


_SPEC_FIELDS: dict[str, type | tuple[type, ...]] = {
    "method": str,
    "dataset": str,
    "seed": int,
    "backbone": str,
    "size": str,
    "tasks": list,
    "method_params": dict,
    "data_options": dict,
    "backbone_options": dict,
    "train": dict,
    "eval": dict,
    "tuning": dict,
}
_REQUIRED = ("method", "dataset", "seed")


def read_config(folder: Path) -> tuple[str, dict[str, Any]]:
    """(run_id, spec) of a run folder's config.json, checked for the shape readers rely on."""
    path = Path(folder) / CONFIG
    config = read_json(path)
    if not isinstance(config, dict) or not isinstance(config.get("run_id"), str) or not config["run_id"]:
        raise _damage(path, "it must be an object with a 'run_id' text and a 'spec' object")
    spec = config.get("spec")
    if not isinstance(spec, dict):
        raise _damage(path, "its 'spec' must be an object")
    for key, kind in _SPEC_FIELDS.items():
        if key not in spec:
            if key in _REQUIRED:
                raise _damage(path, f"its spec has no {key!r}")
            continue
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise _damage(path, f"spec.{key} = {textfiles.shown(value)} is not the {kind.__name__} a run records")
    if not all(isinstance(t, str) for t in spec.get("tasks", [])):
        raise _damage(path, "spec.tasks must be a list of task names")
    return config["run_id"], spec


def read_status(folder: Path) -> dict[str, Any]:
    """A run's status.json; 'pending' if there is none yet, and state 'damaged' (with the reason)
    if it cannot be read or has not the shape mtlbench writes."""
    path = Path(folder) / STATUS
    if not path.is_file():
        return {"state": "pending"}
    try:
        status = read_json(path)
        if not isinstance(status, dict) or status.get("state") not in STATES:
            raise _damage(path, f"its 'state' must be one of {list(STATES)}")
        for key in ("attempts", "completions"):
            value = status.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise _damage(path, f"its {key!r} must be a count")
    except StoreError as err:
        return {"state": DAMAGED, "reason": str(err)}
    return status


def read_metrics(folder: Path) -> dict[str, Any]:
    """A run's metrics.json, which must be an object."""
    path = Path(folder) / METRICS
    metrics = read_json(path)
    if not isinstance(metrics, dict):
        raise _damage(path, "it must hold an object")
    return metrics


def read_examples(folder: Path) -> list[dict[str, Any]]:
    """A run's examples.jsonl: one object per line, each with a text 'id' and a 'stats' object if any."""
    path = Path(folder) / EXAMPLES
    rows = read_jsonl(path)
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise _damage(path, f"example {number} must be an object with a text 'id'")
        if not isinstance(row.get("stats", {}), dict):
            raise _damage(path, f"example {number} (id {textfiles.shown(row['id'])}): 'stats' must be an object")
    return rows


def iter_runs(results: Path) -> Iterator[RunRecord]:
    """Every run folder with a config, in run_id order; status 'pending' if none yet, 'damaged' if
    its status cannot be read. A damaged config raises :class:`StoreError` (nothing else tells
    which run the folder held)."""
    root = Path(results) / RUNS_DIR
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if not (folder / CONFIG).is_file():
            continue
        run_id, spec = read_config(folder)
        yield RunRecord(run_id=run_id, path=folder, spec=spec, status=read_status(folder))
