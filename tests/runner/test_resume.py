"""Nothing finished is lost: a grid killed (SIGKILL) or interrupted (Ctrl-C) and re-run ends as if uninterrupted."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from grid_cli import TINY_GRID, ended, mtlbench_process, on_first_checkpoint, run_mtlbench, send_frozen, training_logs

from mtlbench.results import iter_runs

GRID = [*TINY_GRID, "--epochs", "3", "--no-leaderboard"]


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


def _resumed_runs(results: Path) -> list[str]:
    """Runs that went on from a checkpoint rather than from scratch."""
    return [
        run.run_id
        for run in iter_runs(results)
        if any(json.loads(line)["kind"] == "resume" for line in (run.path / "train_log.jsonl").read_text().splitlines())
    ]


@pytest.fixture(scope="module")
def reference(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of the grid run once, uninterrupted."""
    cwd = tmp_path_factory.mktemp("reference")
    result = run_mtlbench(["run", *GRID, "--workers", "1", "--results", "ref"], cache_dir, cwd)
    assert result.returncode == 0, result.stderr
    assert len(_metrics_by_run(cwd / "ref")) == 3
    return cwd / "ref"


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_matches_uninterrupted_run(
    reference: Path, cache_dir: Path, tmp_path: Path
) -> None:
    results = tmp_path / "killed"
    # the pool's workers must end with it; a checkpoint after every step, so that kills land inside epochs
    args = ["run", *GRID, "--workers", "2", "--checkpoint-steps", "1", "--results", str(results)]
    # The first kill lands right after a run's first checkpoint, so that one run certainly
    # resumes mid-run; the others at random points of the grid's own progress (after the n-th
    # printed line, plus a random fraction of a second), however fast or slow the machine is.
    proc = mtlbench_process(args, cache_dir, tmp_path)
    on_first_checkpoint(results, lambda status: send_frozen(proc, signal.SIGKILL), ended(proc)).join()
    assert proc.wait() == -signal.SIGKILL
    rng = random.Random(20261122)
    kills = 1
    for _ in range(3):
        proc = mtlbench_process(
            args,
            cache_dir,
            tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        for _ in range(rng.randint(1, 6)):
            if not proc.stdout.readline():
                break
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.stdout.close()
        proc.wait()
    assert kills >= 2
    final = run_mtlbench(args, cache_dir, tmp_path)
    assert final.returncode == 0, final.stderr
    _assert_complete_and_whole(results, 3)
    assert _resumed_runs(results)
    assert _metrics_by_run(results) == _metrics_by_run(reference)
    assert training_logs(results) == training_logs(reference)  # rlw's stream went on where it stopped


@pytest.mark.slow
@pytest.mark.parametrize(("workers", "methods"), [(1, "ls"), (2, "ls,pcgrad")])
def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(
    workers: int, methods: str, reference: Path, cache_dir: Path, tmp_path: Path
) -> None:
    results = tmp_path / "res"
    args = ["run", *GRID, "--methods", methods, "--workers", str(workers), "--results", str(results)]
    proc = mtlbench_process(args, cache_dir, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    on_first_checkpoint(results, lambda status: send_frozen(proc), ended(proc)).join()
    stdout, stderr = proc.communicate()
    assert proc.returncode == 130, stderr
    assert "interrupted: finished runs are kept; run the same command again to resume" in stderr
    assert "Traceback" not in stderr
    assert "grid stopped after" in stdout
    interrupted = [run for run in iter_runs(results) if run.state == "running"]
    checkpointed = {run.run_id for run in interrupted if (run.path / "checkpoint.pt").is_file()}
    assert checkpointed  # stopped mid-run, its checkpoint kept to resume from
    for run in interrupted:
        with pytest.raises(ProcessLookupError):  # no worker left running behind the grid
            os.kill(run.status["pid"], 0)
    again = run_mtlbench(args, cache_dir, tmp_path)
    assert again.returncode == 0, again.stderr
    _assert_complete_and_whole(results, len(methods.split(",")))
    assert set(_resumed_runs(results)) == checkpointed
    got, expected = _metrics_by_run(results), _metrics_by_run(reference)
    assert got == {run_id: expected[run_id] for run_id in got}
