"""Progress of a grid: runs done / failed / running / pending, an ETA, and each running run's epochs.

Epoch progress is read from the runs' training logs in the result store, so it works the
same whichever executor runs them (in-process, pool workers, Ray tasks, Slurm jobs), and for
``mtlbench status --watch`` on a store that another process or a cluster is filling.

On a terminal a live board is drawn with ``rich`` (a table of the running runs with an epoch
bar and the last validation figure, under a line of counts, elapsed time and ETA); lines about
finished runs scroll above it. Elsewhere (CI, Slurm logs, a pipe) everything is plain lines.
rich rather than tqdm: tqdm draws one bar per line and has no table, so a changing set of
running runs leaves stale bars behind; the cost of either is measured in
``benchmarks/runner_progress.md``.

The ETA comes from finished epochs: epochs completed since the display started, over the time
that took, applied to the epochs left (runs not started count all their epochs).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from mtlbench.results import DONE, FAILED, RUNNING, STATUS, TRAIN_LOG, iter_runs
from mtlbench.runner.executors.base import Outcome
from mtlbench.runner.lease import HELD, current_holder
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import TUNING_DIR, ResultStore


@dataclass
class RunLog:
    """What has been read of one run's training log, and where its epochs stand."""

    run_id: str
    name: str
    """How lines name the run: "<method label> seed=<seed>"."""
    epochs: int
    monitor: str = "loss"
    where: str = ""
    """dataset/backbone, shown on the board."""
    offset: int = 0
    inode: int = -1
    epochs_done: int = 0
    resumed_at: int = 0
    counted: int = 0
    """Epochs this display has seen finish (they feed the ETA)."""
    figure: str = ""
    """The last validation figure, e.g. "BLEU_4 0.2500"."""
    changed: float = 0.0
    """time.monotonic() when the log last grew."""

    @classmethod
    def of(cls, spec: RunSpec) -> RunLog:
        return cls(
            spec.run_id,
            f"{spec.label} seed={spec.seed}",
            spec.train.epochs,
            spec.train.monitor,
            f"{spec.dataset}/{spec.backbone}",
        )

    @property
    def left(self) -> int:
        return max(self.epochs - self.epochs_done, 0)

    def read(self, folder: Path, report: Callable[[str], None] | None) -> None:
        """Read what the log gained; ``report`` gets one line per restart and per finished epoch."""
        path = folder / TRAIN_LOG
        try:
            info = path.stat()
            if info.st_size < self.offset or info.st_ino != self.inode:  # a fresh attempt started a new log
                self.offset, self.epochs_done, self.resumed_at, self.figure = 0, 0, 0, ""
                self.inode = info.st_ino
            if info.st_size == self.offset:
                return
            with open(path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read(info.st_size - self.offset)
        except OSError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written is read next time
        self.offset += len(complete)
        if complete:
            self.changed = time.monotonic()
        for raw in complete.splitlines():
            if raw.startswith(b'{"kind": "step"'):
                continue  # the bulk of the log: skipped without parsing
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if entry.get("kind") == "resume":
                self.epochs_done = self.resumed_at = int(entry.get("epoch", 0))
                if report:
                    report(f"  {self.name}: resumed at epoch {self.epochs_done + 1}")
            elif entry.get("kind") == "epoch":
                self.epochs_done = int(entry["epoch"]) + 1
                self.counted += 1
                self.figure = _figure(self.monitor, entry.get("val", {}))
                if report:
                    shown = f": val {self.figure}" if self.figure else ""
                    report(f"  {self.name} epoch {self.epochs_done}/{self.epochs}{shown}")


def _figure(monitor: str, val: dict[str, Any]) -> str:
    figure = monitor if monitor in val else "loss"
    value = val.get(figure)
    return f"{figure} {value:.4f}" if isinstance(value, int | float) else ""


def eta_seconds(counted: int, elapsed: float, epochs_left: int) -> float | None:
    """Seconds left at the pace of the epochs finished so far (None before the first one)."""
    if counted <= 0 or elapsed <= 0:
        return None
    return elapsed / counted * epochs_left


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Board:
    """The live view on a terminal: a rich Live region redrawn on demand (no refresh thread of its own)."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        self.live = Live(console=self.console, auto_refresh=False, transient=False, redirect_stdout=False)
        self.live.start()

    def line(self, text: str) -> None:
        self.live.console.print(text, markup=False)

    def draw(self, renderable: Any) -> None:
        self.live.update(renderable, refresh=True)

    def stop(self) -> None:
        self.live.stop()


def board_view(
    title: str,
    counts: dict[str, int],
    total: int,
    elapsed: float,
    eta: float | None,
    running: Sequence[RunLog],
    *,
    idle: bool = False,
    limit: int = 12,
) -> Any:
    """The board: a counts line with a bar over the grid, then one row per running run."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    finished = counts.get(DONE, 0) + counts.get(FAILED, 0)
    head = Table.grid(padding=(0, 1))
    head.add_row(
        Text(title, style="bold"),
        ProgressBar(total=max(total, 1), completed=finished, width=24),
        Text(f"{finished}/{total} runs  elapsed {clock(elapsed)} · ETA {clock(eta)}"),
    )
    tally = Text(
        f"done {counts.get(DONE, 0)} · failed {counts.get(FAILED, 0)} · running {counts.get(RUNNING, 0)} · "
        f"pending {counts.get('pending', 0)}"
    )
    parts: list[Any] = [head, tally]
    if running:
        table = Table(box=None, padding=(0, 1), show_edge=False, header_style="dim")
        table.add_column("running")
        table.add_column("where", style="dim")
        table.add_column("epoch", justify="right")
        table.add_column("", width=20)
        table.add_column("last validation")
        if idle:
            table.add_column("log changed", justify="right", style="dim")
        now = time.monotonic()
        for run in running[:limit]:
            row = [
                run.name,
                run.where,
                f"{run.epochs_done}/{run.epochs}",
                ProgressBar(total=max(run.epochs, 1), completed=run.epochs_done, width=20),
                run.figure,
            ]
            if idle:
                row.append(f"{clock(now - run.changed)} ago" if run.changed else "")
            table.add_row(*row)
        if len(running) > limit:
            table.add_row(f"... and {len(running) - limit} more", "", "", "", "")
        parts.append(table)
    return Group(*parts)


class GridProgress:
    """Called with each run's Outcome; on a terminal it keeps a live board, elsewhere it prints one
    line per run and per finished epoch.

    ``poll_s``: how often the training logs of unfinished runs are read and the board redrawn
    (0: never, in the background).
    """

    def __init__(
        self,
        *,
        total: int,
        done: int,
        store: ResultStore,
        stream: TextIO | None = None,
        name: str = "grid",
        poll_s: float = 1.0,
        live: bool | None = None,
    ) -> None:
        self.name = name
        self.total = total
        self.already_done = done
        self.finished = 0
        self.failed = 0
        self.store = store
        self.stream = stream or sys.stdout
        self.live = _is_terminal(self.stream) if live is None else live
        self.poll_s = poll_s
        self._started = time.perf_counter()
        self._wall_started = time.time()
        self._lock = threading.RLock()
        self._watched: dict[str, RunLog] = {}
        self._running: set[str] = set()
        self._counted_finished = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._board: Board | None = None

    @property
    def left(self) -> int:
        return self.total - self.already_done - self.finished - self.failed

    def start(self, results: Path, todo: Sequence[RunSpec] = ()) -> None:
        """Announce the grid and start following the epochs of the runs in ``todo``."""
        self._started = time.perf_counter()
        self._wall_started = time.time()
        counts = f"{self.total} runs, {self.already_done} already done, {self.left} to run"
        self._print(f"{self.name}: {counts} -> {results}")
        self._watched = {spec.run_id: RunLog.of(spec) for spec in todo}
        for watched in self._watched.values():  # what an earlier attempt left is not news
            watched.read(self.store.path(watched.run_id), None)
            watched.counted = 0
        if self.live and self.total:
            self._board = Board(self.stream)
            self._redraw()
        if self._watched and self.poll_s > 0:
            self._thread = threading.Thread(target=self._follow, name="mtlbench-progress", daemon=True)
            self._thread.start()

    def __call__(self, outcome: Outcome) -> None:
        spec = outcome.spec
        if outcome.state == HELD:  # not this grid's to count: it waits for the holder at the end
            holder = current_holder(self.store.path(spec.run_id))
            by = f" ({holder.describe()})" if holder is not None else ""
            self._print(f"held   {spec.label} seed={spec.seed}: another process trains it{by}; waiting for it")
            return
        with self._lock:
            watched = self._watched.pop(spec.run_id, None)
            self._running.discard(spec.run_id)
            if watched is not None:
                watched.read(self.store.path(spec.run_id), self._print)  # epochs since the last poll come first
                self._counted_finished += watched.counted
            if outcome.state == "done":
                self.finished += 1
            else:
                self.failed += 1
            line = f"{outcome.state:6s} {spec.label} seed={spec.seed} {spec.dataset}/{spec.backbone}"
            line += f" ({outcome.seconds:.1f} s)"
            if outcome.state != "done":
                line += f": {self.store.status(spec.run_id).get('reason', 'unknown reason')}"
            self._print(f"[{self.finished + self.failed}/{self.total - self.already_done}] {line}")
            self._redraw()

    def eta(self) -> float | None:
        counted = self._counted_finished + sum(w.counted for w in self._watched.values())
        left = sum(w.left for w in self._watched.values())
        return eta_seconds(counted, time.perf_counter() - self._started, left)

    def status_line(self) -> str:
        """done | failed | left | ETA, and the epoch each running run has reached."""
        with self._lock:
            line = f"done {self.already_done + self.finished} | failed {self.failed} | left {self.left}"
            line += f" | ETA {clock(self.eta())}"
            running = [w for w in self._watched.values() if w.epochs_done]
            if running:
                shown = ", ".join(f"{w.name} {w.epochs_done}/{w.epochs}" for w in running[:3])
                line += f" | epochs: {shown}" + (", ..." if len(running) > 3 else "")
            return line

    def finish(self, *, interrupted: bool = False) -> None:
        """Stop following the logs and the board, and print the summary line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._board is not None:
                self._redraw()
                self._board.stop()
                self._board = None
            elapsed = time.perf_counter() - self._started
            summary = self.status_line().split(" | ETA", 1)[0]
            ended = "stopped after" if interrupted else "finished in"
            self._print(f"{self.name} {ended} {elapsed:.0f} s: {summary}")

    def poll(self) -> None:
        """Read what the unfinished runs' training logs gained (the background thread does this
        every ``poll_s`` seconds) and redraw the board."""
        with self._lock:
            for watched in list(self._watched.values()):
                folder = self.store.path(watched.run_id)
                if watched.run_id not in self._running and _started_since(folder, self._wall_started):
                    self._running.add(watched.run_id)
                watched.read(folder, self._print)
            self._redraw()

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def _print(self, line: str) -> None:
        with self._lock:
            if self._board is not None:
                self._board.line(line)
            else:
                self.stream.write(line + "\n")
                self.stream.flush()

    def _redraw(self) -> None:
        if self._board is None:
            return
        running = [w for w in self._watched.values() if w.run_id in self._running]
        counts = {
            DONE: self.already_done + self.finished,
            FAILED: self.failed,
            RUNNING: len(running),
            "pending": self.left - len(running),
        }
        self._board.draw(
            board_view(self.name, counts, self.total, time.perf_counter() - self._started, self.eta(), running)
        )


def _started_since(folder: Path, since: float) -> bool:
    """Whether the run's status was written (it began an attempt) since ``since`` (wall time)."""
    try:
        return (folder / STATUS).stat().st_mtime >= since - 1.0
    except OSError:
        return False


class StoreWatch:
    """``mtlbench status --watch``: the same display for a store another process or a cluster fills.

    Each poll scans the store's run folders and its tuning trials' (config and status files) and
    follows the training logs of the running runs. A run whose state is "running" may also be an interrupted one: the
    board shows how long ago each log last changed.
    """

    def __init__(self, results: Path, *, stream: TextIO | None = None, poll_s: float = 2.0) -> None:
        self.results = Path(results)
        self.roots = (self.results, self.results / TUNING_DIR)  # tuning trials run first, in their own store
        self.stream = stream or sys.stdout
        self.live = _is_terminal(self.stream)
        self.poll_s = poll_s
        self.states: dict[str, str] = {}
        self.logs: dict[str, RunLog] = {}
        self.counted = 0
        self._started = time.perf_counter()
        self._board: Board | None = None
        self._scanned = False

    def _print(self, line: str) -> None:
        if self._board is not None:
            self._board.line(line)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def poll(self) -> dict[str, int]:
        """Scan the store once; print what changed since the last scan; returns the counts by state."""
        counts = {DONE: 0, FAILED: 0, RUNNING: 0, "pending": 0}
        report = self._print if self._scanned else None
        for store, record in ((root, r) for root in self.roots for r in iter_runs(root)):
            state = record.state if record.state in counts else "pending"
            counts[state] += 1
            key = str(record.path)  # a chosen trial and its final run share a run id
            before = self.states.get(key)
            self.states[key] = state
            log = self.logs.get(key)
            if log is None:
                log = self.logs[key] = _run_log(record.spec, record.run_id)
                if store != self.results:
                    log.name = f"trial {log.name}"
                if state == RUNNING:  # only running runs' logs are read: a store may hold thousands of done ones
                    log.read(record.path, None)  # what was there when the watch began is not news
                    log.counted = 0
            elif state == RUNNING or before == RUNNING:
                log.read(record.path, report)
            if report and before != state and state in (RUNNING, DONE, FAILED):
                reason = f": {record.status.get('reason')}" if state == FAILED else ""
                report(f"{state:7s} {log.name} {log.where}{reason}")
        self._scanned = True
        self.counted = sum(log.counted for log in self.logs.values())
        return counts

    def eta(self) -> float | None:
        left = sum(log.left for key, log in self.logs.items() if self.states.get(key) in (RUNNING, "pending"))
        return eta_seconds(self.counted, time.perf_counter() - self._started, left)

    def view(self, counts: dict[str, int]) -> Any:
        running = [self.logs[key] for key, state in self.states.items() if state == RUNNING]
        elapsed = time.perf_counter() - self._started
        title = f"{self.results}"
        return board_view(title, counts, sum(counts.values()), elapsed, self.eta(), running, idle=True)

    def summary(self, counts: dict[str, int]) -> str:
        return f"{sum(counts.values())} runs: " + ", ".join(f"{n} {state}" for state, n in counts.items() if n)

    def run(self, *, until: Callable[[dict[str, int]], bool] | None = None, max_polls: int | None = None) -> None:
        """Poll until every run is done or failed (or ``until`` says so), or Ctrl-C; then print a summary."""
        until = until or (lambda counts: counts[RUNNING] == 0 and counts["pending"] == 0)
        counts = self.poll()
        self._print(f"watching {self.results}: {self.summary(counts)} (Ctrl-C stops watching, not the runs)")
        if self.live:
            self._board = Board(self.stream)
        polls = 0
        try:
            while not until(counts) and (max_polls is None or polls < max_polls):
                if self._board is not None:
                    self._board.draw(self.view(counts))
                time.sleep(self.poll_s)
                counts = self.poll()
                polls += 1
        except KeyboardInterrupt:
            pass
        finally:
            if self._board is not None:
                self._board.draw(self.view(counts))
                self._board.stop()
                self._board = None
        self._print(self.summary(counts))


def _run_log(spec: dict[str, Any], run_id: str) -> RunLog:
    try:
        return RunLog.of(RunSpec.from_dict(spec))
    except Exception:  # a spec this version cannot read: still counted and named
        return RunLog(run_id, f"{spec.get('method', '?')} seed={spec.get('seed', '?')}", 0)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
