"""Progress of a grid: runs done / failed / left and an ETA; plain lines when not on a terminal."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from mtlbench.runner.executors.base import Outcome
from mtlbench.runner.store import ResultStore


class GridProgress:
    """Called with each run's Outcome; prints one line per run and, on a terminal, a live status line."""

    def __init__(
        self, *, total: int, done: int, store: ResultStore, stream: TextIO | None = None, name: str = "grid"
    ) -> None:
        self.name = name
        self.total = total
        self.already_done = done
        self.finished = 0
        self.failed = 0
        self.store = store
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self._started = time.perf_counter()

    @property
    def left(self) -> int:
        return self.total - self.already_done - self.finished - self.failed

    def start(self, results: Path) -> None:
        counts = f"{self.total} runs, {self.already_done} already done, {self.left} to run"
        self._print(f"{self.name}: {counts} -> {results}")

    def __call__(self, outcome: Outcome) -> None:
        spec = outcome.spec
        if outcome.state == "done":
            self.finished += 1
        else:
            self.failed += 1
        line = (
            f"{outcome.state:6s} {spec.label} seed={spec.seed} {spec.dataset}/{spec.backbone} ({outcome.seconds:.1f} s)"
        )
        if outcome.state != "done":
            line += f": {self.store.status(spec.run_id).get('reason', 'unknown reason')}"
        self._print(f"[{self.finished + self.failed}/{self.total - self.already_done}] {line}")

    def status_line(self) -> str:
        ran = self.finished + self.failed
        elapsed = time.perf_counter() - self._started
        eta = elapsed / ran * self.left if ran else float("nan")
        eta_text = f"{eta / 60:.1f} min" if ran else "?"
        return f"done {self.already_done + self.finished} | failed {self.failed} | left {self.left} | ETA {eta_text}"

    def finish(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        elapsed = time.perf_counter() - self._started
        self._print(f"{self.name} finished in {elapsed:.0f} s: {self.status_line().rsplit(' | ETA', 1)[0]}", live=False)

    def _print(self, line: str, live: bool = True) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.write(line + "\n")
        if self.live and live and self.total:
            self.stream.write(self.status_line())
        self.stream.flush()
