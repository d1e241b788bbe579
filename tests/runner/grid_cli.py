"""Running the mtlbench CLI in a subprocess on a tiny synthetic grid that trains in seconds.

The grid holds rlw, whose random weights come from a stream derived from the run's seed: the
executor tests compare training logs too, so the same seed must draw the same weights anywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mtlbench.results import iter_runs, read_train_log

TINY_GRID = [
    "--methods", "ls,pcgrad,rlw", "--seeds", "1", "--epochs", "2", "--batch-size", "8", "--no-meteor",
    "--data-opt", "synthetic.n_train=24", "--data-opt", "synthetic.n_val=8", "--data-opt", "synthetic.n_test=8",
]  # fmt: skip


def training_logs(results: Path) -> dict[str, list[dict]]:
    """Each run's training log as an uninterrupted run would have written it: lines from the step
    (and epoch) a resume went back to (after a kill or pre-emption) are superseded by the lines
    after its "resume" marker. RLW's drawn weights are in these lines, so equal logs mean equal streams."""
    return {folder.name: read_train_log(folder / "train_log.jsonl") for folder in sorted((results / "runs").iterdir())}


def mtlbench_process(args: list[str], cache: Path, cwd: Path, **kwargs) -> subprocess.Popen:
    """The CLI in the background, leading a process group of its own (its workers join it).

    Ctrl-C reaches it as it reaches a command typed at a terminal, even when the tests run in a
    shell's background job, where SIGINT is ignored and a Python started there keeps ignoring it."""
    env = dict(os.environ, MTLBENCH_CACHE=str(cache), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "mtlbench", *args],
        cwd=cwd,
        env=env,
        start_new_session=True,
        preexec_fn=_default_sigint,
        **kwargs,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def send_frozen(proc: subprocess.Popen, sig: int = signal.SIGINT) -> None:
    """Signal the grid (Ctrl-C by default) without a race on a loaded machine: its processes are
    frozen first, so that no run can finish between the test's decision and the signal."""
    os.killpg(proc.pid, signal.SIGSTOP)
    try:
        proc.send_signal(sig)
    finally:
        with contextlib.suppress(ProcessLookupError):  # a SIGKILLed grid may have taken its group along
            os.killpg(proc.pid, signal.SIGCONT)


def run_mtlbench(args: list[str], cache: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MTLBENCH_CACHE=str(cache))
    return subprocess.run([sys.executable, "-m", "mtlbench", *args], cwd=cwd, env=env, capture_output=True, text=True)


def on_first_checkpoint(results: Path, action: Callable[[dict], None], ended: Callable[[], bool]) -> threading.Thread:
    """In the background: as soon as a run in ``results`` has written its first checkpoint (it is
    now mid-run, with an epoch to resume from), call ``action`` once with that run's status.
    Gives up once ``ended()`` says the grid is over (the test's assertions then tell why)."""

    def watch() -> None:
        while not ended():
            runs = results / "runs"
            for folder in sorted(runs.iterdir()) if runs.is_dir() else []:
                if (folder / "checkpoint.pt").is_file():
                    action(json.loads((folder / "status.json").read_text()))
                    return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def ended(proc: subprocess.Popen) -> Callable[[], bool]:
    return lambda: proc.poll() is not None


def assert_trained_once_as_a_single_grid(results: Path, sequential: Path) -> None:
    runs = list(iter_runs(results))
    assert len(runs) == len(list(iter_runs(sequential)))
    for run in runs:
        assert run.state == "done", run.status
        assert run.status["attempts"] == 1 and run.status["completions"] == 1, run.status  # trained once
        assert not (run.path / "lease.json").exists()
    expected = {run.run_id: run.metrics()["test"] for run in iter_runs(sequential)}
    assert {run.run_id: run.metrics()["test"] for run in runs} == expected
    assert training_logs(results) == training_logs(sequential)
