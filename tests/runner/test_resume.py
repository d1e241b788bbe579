"""Nothing finished is lost: a grid killed at random points and re-run ends as if uninterrupted."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from grid_cli import TINY_GRID, mtlbench_process, run_mtlbench

from mtlbench.results import iter_runs


def _metrics_by_run(results: Path) -> dict[str, dict]:
    return {run.run_id: run.metrics()["test"] for run in iter_runs(results)}


def _assert_complete_and_whole(results: Path, n_runs: int) -> None:
    runs = list(iter_runs(results))
    assert len(runs) == n_runs
    for run in runs:
        assert run.state == "done", run.status
        assert run.status["completions"] == 1  # done exactly once
        for path in run.path.iterdir():
            if path.suffix == ".json":
                json.loads(path.read_text())  # not truncated
            elif path.suffix == ".jsonl":
                lines = path.read_text().splitlines()
                assert lines and all(json.loads(line) for line in lines)
        assert len(run.examples()) == 8
        assert not (run.path / "checkpoint.pt").exists()


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_matches_uninterrupted_run(cache_dir: Path, tmp_path: Path) -> None:
    reference = run_mtlbench(
        ["run", *TINY_GRID, "--epochs", "3", "--results", "ref", "--no-leaderboard"], cache_dir, tmp_path
    )
    assert reference.returncode == 0, reference.stderr
    expected = _metrics_by_run(tmp_path / "ref")
    assert len(expected) == 4

    # Kill at random points of the grid's own progress (after the n-th printed line, plus a random
    # fraction of a second), so the kills land mid-grid however fast or slow the machine is.
    rng = random.Random(20261122)
    kills = 0
    for _ in range(4):
        proc = mtlbench_process(
            ["run", *TINY_GRID, "--epochs", "3", "--results", "killed", "--no-leaderboard"],
            cache_dir,
            tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        for _ in range(rng.randint(1, 4)):
            if not proc.stdout.readline():
                break
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.stdout.close()
        proc.wait()
    assert kills >= 2
    final = run_mtlbench(
        ["run", *TINY_GRID, "--epochs", "3", "--results", "killed", "--no-leaderboard"], cache_dir, tmp_path
    )
    assert final.returncode == 0, final.stderr
    _assert_complete_and_whole(tmp_path / "killed", 4)
    assert _metrics_by_run(tmp_path / "killed") == expected
