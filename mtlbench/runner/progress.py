"""Progress of a grid: runs done / failed / left, an ETA, and each running run's epochs.

Epoch progress is read from the runs' training logs in the result store, so it works the
same whichever executor runs them (in-process, pool workers, Ray tasks, Slurm jobs). On a
terminal a live status line is kept at the bottom; otherwise everything is plain lines.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from mtlbench.results import TRAIN_LOG
from mtlbench.runner.executors.base import Outcome
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore


@dataclass
class _Watched:
    """What has been read of one unfinished run's training log."""

    spec: RunSpec
    offset: int = 0
    inode: int = -1
    epochs_done: int = 0
    resumed_at: int = 0


class GridProgress:
    """Called with each run's Outcome; prints one line per run and per finished epoch.

    ``poll_s``: how often the training logs of unfinished runs are read (0: never).
    """

    def __init__(
        self,
        *,
        total: int,
        done: int,
        store: ResultStore,
        stream: TextIO | None = None,
        name: str = "grid",
        poll_s: float = 2.0,
    ) -> None:
        self.name = name
        self.total = total
        self.already_done = done
        self.finished = 0
        self.failed = 0
        self.store = store
        self.stream = stream or sys.stdout
        self.live = _is_terminal(self.stream)
        self.poll_s = poll_s
        self._started = time.perf_counter()
        self._lock = threading.RLock()
        self._watched: dict[str, _Watched] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def left(self) -> int:
        return self.total - self.already_done - self.finished - self.failed

    def start(self, results: Path, todo: Sequence[RunSpec] = ()) -> None:
        """Announce the grid and start following the epochs of the runs in ``todo``."""
        self._started = time.perf_counter()
        counts = f"{self.total} runs, {self.already_done} already done, {self.left} to run"
        self._print(f"{self.name}: {counts} -> {results}")
        self._watched = {spec.run_id: _Watched(spec) for spec in todo}
        for watched in self._watched.values():  # what an earlier attempt left is not news
            self._read_log(watched, report=False)
        if self._watched and self.poll_s > 0:
            self._thread = threading.Thread(target=self._follow, name="mtlbench-progress", daemon=True)
            self._thread.start()

    def __call__(self, outcome: Outcome) -> None:
        spec = outcome.spec
        with self._lock:
            watched = self._watched.pop(spec.run_id, None)
            if watched is not None:
                self._read_log(watched, report=True)  # epochs finished since the last poll come first
            if outcome.state == "done":
                self.finished += 1
            else:
                self.failed += 1
            line = f"{outcome.state:6s} {spec.label} seed={spec.seed} {spec.dataset}/{spec.backbone}"
            line += f" ({outcome.seconds:.1f} s)"
            if outcome.state != "done":
                line += f": {self.store.status(spec.run_id).get('reason', 'unknown reason')}"
            self._print(f"[{self.finished + self.failed}/{self.total - self.already_done}] {line}")

    def status_line(self) -> str:
        """done | failed | left | ETA, and the epoch each running run has reached."""
        with self._lock:
            ran = self.finished + self.failed
            partial = sum(_fraction(w) for w in self._watched.values())
            elapsed = time.perf_counter() - self._started
            work = ran + partial
            eta = f"{elapsed / work * max(self.left - partial, 0.0) / 60:.1f} min" if work > 0 else "?"
            line = f"done {self.already_done + self.finished} | failed {self.failed} | left {self.left} | ETA {eta}"
            running = [w for w in self._watched.values() if w.epochs_done]
            if running:
                shown = ", ".join(
                    f"{w.spec.label} s{w.spec.seed} {w.epochs_done}/{w.spec.train.epochs}" for w in running[:3]
                )
                line += f" | epochs: {shown}" + (", ..." if len(running) > 3 else "")
            return line

    def finish(self, *, interrupted: bool = False) -> None:
        """Stop following the logs and print the summary line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self.live:
                self.stream.write("\r\033[K")
            elapsed = time.perf_counter() - self._started
            summary = self.status_line().split(" | ETA", 1)[0]
            ended = "stopped after" if interrupted else "finished in"
            self._print(f"{self.name} {ended} {elapsed:.0f} s: {summary}", live=False)

    def poll(self) -> None:
        """Read what the unfinished runs' training logs gained (the background thread does this
        every ``poll_s`` seconds) and redraw the status line."""
        with self._lock:
            for watched in list(self._watched.values()):
                self._read_log(watched, report=True)
            if self.live:
                self._redraw()

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def _read_log(self, watched: _Watched, *, report: bool) -> None:
        """Read what the run's training log gained; print one line per newly finished epoch."""
        path = self.store.path(watched.spec.run_id) / TRAIN_LOG
        try:
            info = path.stat()
            size = info.st_size
            if size < watched.offset or info.st_ino != watched.inode:  # a fresh attempt started a new log
                watched.offset, watched.epochs_done, watched.resumed_at = 0, 0, 0
                watched.inode = info.st_ino
            with open(path, "rb") as handle:
                handle.seek(watched.offset)
                chunk = handle.read(size - watched.offset)
        except OSError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written is read next time
        watched.offset += len(complete)
        for raw in complete.splitlines():
            if raw.startswith(b'{"kind": "step"'):
                continue  # the bulk of the log: skipped without parsing
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if entry.get("kind") == "resume":
                watched.epochs_done = watched.resumed_at = int(entry.get("epoch", 0))
                if report:
                    self._print(f"  {_name(watched.spec)}: resumed at epoch {watched.epochs_done + 1}")
            elif entry.get("kind") == "epoch":
                watched.epochs_done = int(entry["epoch"]) + 1
                if report:
                    epochs = f"{watched.epochs_done}/{watched.spec.train.epochs}"
                    self._print(f"  {_name(watched.spec)} epoch {epochs}{_figure(watched.spec, entry.get('val', {}))}")

    def _print(self, line: str, live: bool = True) -> None:
        with self._lock:
            if self.live:
                self.stream.write("\r\033[K")
            self.stream.write(line + "\n")
            if self.live and live and self.total:
                self.stream.write(self.status_line())
            self.stream.flush()

    def _redraw(self) -> None:
        self.stream.write("\r\033[K" + self.status_line())
        self.stream.flush()


def _name(spec: RunSpec) -> str:
    return f"{spec.label} seed={spec.seed}"


def _figure(spec: RunSpec, val: dict) -> str:
    figure = spec.train.monitor if spec.train.monitor in val else "loss"
    value = val.get(figure)
    return f": val {figure} {value:.4f}" if isinstance(value, int | float) else ""


def _fraction(watched: _Watched) -> float:
    """How much of a running run was done in this session (epochs after where it resumed)."""
    epochs = watched.spec.train.epochs - watched.resumed_at
    return (watched.epochs_done - watched.resumed_at) / epochs if epochs > 0 else 0.0


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
