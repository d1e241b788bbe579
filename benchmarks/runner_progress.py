"""What the grid's progress display costs: a grid with no display, plain lines, and the live board.

1. The same small grid runs three ways in this process, on the local pool (2 spawned workers,
   so training happens in the workers and the display in this process): with no progress
   object at all, with plain lines written to a file, and with the live rich board drawn on a
   pseudo-terminal (redrawn every second, the default). Each way gets a fresh result store;
   the three alternate over ``--repeats`` rounds so that load changes hit all alike. Reported:
   wall clock, and the CPU seconds of this process itself (the display's thread plus the pool's
   bookkeeping, without the workers), which is the display's cost measured directly.
2. One frame of each candidate display for 8 running runs, drawn 500 times to a pseudo-terminal:
   the rich board (counts line, a table with an epoch bar and the last validation figure per
   run) and tqdm (one bar per run with the figure as postfix, all refreshed): CPU microseconds
   per frame (CPU time, not wall time, so that a loaded machine does not inflate it).

    .venv/bin/python benchmarks/runner_progress.py --out benchmarks/runner_progress.md --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import pty
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from mtlbench.metrics.config import EvalConfig
from mtlbench.runner.benchmark import run_benchmark
from mtlbench.runner.executors import LocalExecutor, run_grid
from mtlbench.runner.grid import GridSpec, expand
from mtlbench.runner.progress import RunLog, board_view
from mtlbench.runner.store import ResultStore
from mtlbench.train.config import TrainConfig

DATA = {"synthetic": {"n_train": 48, "n_val": 8, "n_test": 8}}


def _specs(epochs: int) -> list:
    grid = GridSpec(
        methods=("ls", "pcgrad"),
        datasets=("synthetic",),
        seeds=(0, 1),
        train=TrainConfig(epochs=epochs, batch_size=8),
        eval=EvalConfig(meteor=False),
        data_options=DATA,
    )
    return expand(grid)


class _Drain:
    """A pseudo-terminal whose output is read and thrown away, as a terminal would show it."""

    def __init__(self) -> None:
        self.master, slave = pty.openpty()
        self.stream = os.fdopen(slave, "w", buffering=1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while os.read(self.master, 65536):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self.stream.close()
        os.close(self.master)


def _grid(mode: str, results: Path, epochs: int) -> tuple[float, float]:
    specs = _specs(epochs)
    cpu, wall = time.process_time(), time.perf_counter()
    executor = LocalExecutor(workers=2)
    if mode == "none":
        store = ResultStore(results)
        store.register(specs)
        run_grid(specs, results, executor)
    elif mode == "plain":
        with open(results.with_suffix(".log"), "w") as stream:
            run_benchmark(specs, results, executor, stream=stream)
    else:
        terminal = _Drain()
        try:
            run_benchmark(specs, results, executor, stream=terminal.stream)
        finally:
            terminal.close()
    return time.perf_counter() - wall, time.process_time() - cpu


def _frames(n: int = 500) -> dict[str, float]:
    """CPU microseconds per frame of each display with 8 running runs, drawn to a pseudo-terminal."""
    from rich.console import Console
    from rich.live import Live
    from tqdm import tqdm

    runs = [RunLog(f"run{i}", f"method{i} seed={i % 3}", 20, "BLEU_4", "synthetic/transformer") for i in range(8)]
    for i, run in enumerate(runs):
        run.epochs_done, run.figure = i + 2, f"BLEU_4 0.{i}123"
    out: dict[str, float] = {}
    terminal = _Drain()
    live = Live(console=Console(file=terminal.stream), auto_refresh=False)
    live.start()
    started = time.process_time()
    for frame in range(n):
        counts = {"done": frame, "failed": 0, "running": 8, "pending": 90 - frame % 90}
        live.update(board_view("grid", counts, 100, 60.0 + frame, 300.0, runs), refresh=True)
    out["rich board"] = (time.process_time() - started) / n * 1e6
    live.stop()
    bars = [tqdm(total=20, position=i, file=terminal.stream, desc=r.name, leave=False) for i, r in enumerate(runs)]
    started = time.process_time()
    for frame in range(n):
        for bar, run in zip(bars, runs):
            bar.n = (run.epochs_done + frame) % 20
            bar.set_postfix_str(run.figure, refresh=False)
            bar.refresh()
    out["tqdm bars"] = (time.process_time() - started) / n * 1e6
    for bar in bars:
        bar.close()
    terminal.close()
    return out


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the result as Markdown here")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    modes = ("none", "plain", "live")
    wall: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("MTLBENCH_CACHE", str(root / "cache"))
        _grid("none", root / "warm", 1)  # the data is made once, outside the measurements
        for repeat in range(args.repeats):
            order = modes[repeat % 3 :] + modes[: repeat % 3]
            for mode in order:
                w, c = _grid(mode, root / f"{mode}{repeat}", args.epochs)
                wall[mode].append(w)
                cpu[mode].append(c)
                print(f"round {repeat + 1} {mode}: wall {w:.1f} s, this process's CPU {c:.2f} s", file=sys.stderr)
    frames = _frames()
    load_after = _load()
    median = {m: statistics.median(wall[m]) for m in modes}
    names = {"none": "no display", "plain": "plain lines (to a file)", "live": "live rich board (pseudo-terminal)"}
    rows = "".join(
        f"| {names[m]} | {', '.join(f'{t:.1f}' for t in wall[m])} | {median[m]:.1f} | {median[m] / median['none']:.3f} "
        f"| {', '.join(f'{t:.2f}' for t in cpu[m])} |\n"
        for m in modes
    )
    text = (
        f"Grid: ls and pcgrad x 2 seeds, {args.epochs} epochs, synthetic n_train=48, local pool of 2 workers; "
        f"{len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}; "
        f"load average (1/5/15 min) {load_before} before, {load_after} after.\n\n"
        "| display | wall clock (s), each round | median (s) | ratio to no display | CPU s of the main process |\n"
        f"|---|---|---|---|---|\n{rows}\n"
        "One frame with 8 running runs, drawn to a pseudo-terminal (500 frames), CPU time per frame: "
        + ", ".join(f"{name} {us:.0f} µs" for name, us in frames.items())
        + ".\n"
    )
    print(text)
    if args.out:
        options = f"--out {args.out} --repeats {args.repeats} --epochs {args.epochs}"
        command = f".venv/bin/python benchmarks/runner_progress.py {options}"
        args.out.write_text(f"# Progress display overhead\n\nCommand: `{command}`\n\n" + text)


if __name__ == "__main__":
    main()
