"""The result store: one folder per run, every file written atomically, status written last."""

from __future__ import annotations

import json
import os
import socket
import time
import traceback as tb
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from mtlbench.errors import StoreError, StoreUnwritable
from mtlbench.methods import effective_hparams
from mtlbench.results import (
    CONFIG,
    DAMAGED,
    DONE,
    EXAMPLES,
    FAILED,
    METRICS,
    RUNNING,
    STATUS,
    TRAIN_LOG,
    as_stored,
    atomic_write_json,
    atomic_write_jsonl,
    has_checkpoint,
    read_examples,
    read_json,
    read_metrics,
    read_status,
    remove_checkpoints,
    run_dir,
)
from mtlbench.runner.lease import scheduler_job
from mtlbench.runner.spec import RunSpec

TUNING_DIR = "tuning"
"""Tuning trials live in their own store under the results, so reports never mix them with final runs."""


class ResultStore:
    """Reads and writes run folders under ``root/runs``; a run is done only once its status says so."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, run_id: str) -> Path:
        return run_dir(self.root, run_id)

    def status(self, run_id: str) -> dict[str, Any]:
        """The run's status; state "damaged" when its status.json cannot be read, or says done while
        its metrics or examples are missing (a re-run redoes it)."""
        folder = self.path(run_id)
        status = read_status(folder)
        if status.get("state") == DONE and not all((folder / name).is_file() for name in (METRICS, EXAMPLES)):
            return {"state": DAMAGED, "reason": f"{folder}: status done, but its metrics or examples are missing"}
        return status

    def state(self, run_id: str) -> str:
        return self.status(run_id).get("state", "pending")

    def todo(self, specs: Sequence[RunSpec], *, rerun_failed: bool = False) -> list[RunSpec]:
        """Specs still to run: not done, and not failed unless ``rerun_failed``."""
        skip = {DONE} if rerun_failed else {DONE, FAILED}
        return [spec for spec in specs if self.state(spec.run_id) not in skip]

    def changed_defaults(self, specs: Sequence[RunSpec]) -> list[str]:
        """One line per method whose done runs ran with other hyper-parameters than this version
        would use (a default changed since). They stay done: the user decides whether to redo them."""
        changed: dict[str, tuple[int, set[str]]] = {}
        for spec in specs:
            config_path = self.path(spec.run_id) / CONFIG
            if self.state(spec.run_id) != DONE or not config_path.is_file():
                continue
            config = read_json(config_path)
            recorded = config.get("method_hparams") if isinstance(config, dict) else None
            if not isinstance(recorded, dict):  # made before runs recorded their hyper-parameters
                continue
            current = _hparams(spec)
            keys = [k for k in recorded.keys() | current.keys() if recorded.get(k) != current.get(k)]
            diff = {f"{k} {recorded.get(k)!r} -> {current.get(k)!r}" for k in keys}
            if diff:
                count, diffs = changed.get(spec.label, (0, set()))
                changed[spec.label] = (count + 1, diffs | diff)
        return [
            f"{count} done runs of {label} used hyper-parameters that differ from this version's "
            f"({', '.join(sorted(diffs))}); they are kept: delete them, or use another --results, to redo them"
            for label, (count, diffs) in sorted(changed.items())
        ]

    def register(self, specs: Iterable[RunSpec]) -> None:
        """Record every run of a grid before any starts, so a report can name the ones never run.

        Also drops the checkpoint of a run that was killed between recording itself done and
        deleting it: a done run never needs one. :class:`StoreUnwritable` if the store refuses writes.
        """
        try:
            self._register(specs)
        except OSError as err:
            raise self.unwritable(err) from err

    def _register(self, specs: Iterable[RunSpec]) -> None:
        for spec in specs:
            folder = self.path(spec.run_id)
            if not (folder / CONFIG).is_file():
                folder.mkdir(parents=True, exist_ok=True)
                atomic_write_json(folder / CONFIG, {"run_id": spec.run_id, "spec": spec.to_dict()})
            elif has_checkpoint(folder) and self.state(spec.run_id) == DONE:
                remove_checkpoints(folder)

    def begin(self, spec: RunSpec, environment: dict[str, Any]) -> Path:
        """Create the run folder, write its config, mark it running.

        A new attempt without a checkpoint starts a fresh training log; one with a checkpoint
        resumes, so its log goes on.
        """
        folder = self.path(spec.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"run_id": spec.run_id, "spec": spec.to_dict(), "method_hparams": _hparams(spec)}
        atomic_write_json(folder / CONFIG, config)
        attempts = int(self.status(spec.run_id).get("attempts", 0)) + 1
        if not has_checkpoint(folder):
            (folder / TRAIN_LOG).unlink(missing_ok=True)
        atomic_write_json(
            folder / STATUS,
            {
                "state": RUNNING,
                "started": _now(),
                "attempts": attempts,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "scheduler_job": scheduler_job(),
                "environment": environment,
            },
        )
        return folder

    def finish(
        self,
        spec: RunSpec,
        metrics: dict[str, Any],
        examples: Iterable[dict[str, Any]],
        *,
        fence: Callable[[], None] | None = None,
    ) -> None:
        """Write the run's examples and metrics, read them back, and only then mark it done.

        ``fence()`` runs just before the status is written and raises if this process may no
        longer write the run (its lease passed to another process). A write that fails leaves the
        run not done (a crash between the files and the status leaves it "running": redone).
        """
        folder = self.path(spec.run_id)
        rows = list(examples)
        atomic_write_jsonl(folder / EXAMPLES, rows)
        atomic_write_json(folder / METRICS, metrics)
        if len(read_examples(folder)) != len(rows) or read_metrics(folder) != as_stored(metrics):  # verified
            raise StoreError(f"{folder}: metrics or examples read back differ from what was written (a failing disk)")
        completions = int(self.status(spec.run_id).get("completions", 0)) + 1
        if fence is not None:
            fence()
        self._update_status(spec.run_id, {"state": DONE, "finished": _now(), "completions": completions})
        remove_checkpoints(folder)

    def fail(self, spec: RunSpec, error: BaseException) -> None:
        """Record the run as failed with its reason; :class:`StoreUnwritable` if even that cannot be written."""
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        changes = {
            "state": FAILED,
            "finished": _now(),
            "reason": reason,
            "error_type": type(error).__name__,
            "traceback": "".join(tb.format_exception(error)),
        }
        try:
            self._update_status(spec.run_id, changes)
        except OSError as err:
            raise self.unwritable(err, f" after run {spec.run_id} failed ({reason})") from err

    def unwritable(self, err: OSError, context: str = "") -> StoreUnwritable:
        """The one-line error that stops a grid whose store refuses writes (full, read-only, failing)."""
        return StoreUnwritable(
            f"cannot write to the result store {self.root} ({err.strerror or err}){context}: free space or make "
            "it writable, then run the same command again; finished runs are kept"
        )

    def _update_status(self, run_id: str, changes: dict[str, Any]) -> None:
        status = self.status(run_id)
        status.update(changes)
        if status["state"] == DONE:
            for key in ("reason", "error_type", "traceback"):
                status.pop(key, None)
        atomic_write_json(self.path(run_id) / STATUS, status)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _hparams(spec: RunSpec) -> dict[str, Any]:
    """The run's method hyper-parameters as JSON stores them (tuples become lists; a plugin's
    default that JSON cannot hold, such as a device, is kept as its repr)."""
    return json.loads(json.dumps(effective_hparams(spec.method, **dict(spec.method_params)), default=repr))
