"""The Slurm executor: submitit's local mode (fast path) and a real one-node Slurm cluster.

Both pre-empt a run once it has a checkpoint, the way Slurm does before a time limit or a
pre-emption (SIGUSR2 to the job): submitit requeues the same job, the run resumes from its
last epoch under the same run_id, and the metrics equal those of the sequential run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from grid_cli import TINY_GRID, ended, mtlbench_process, on_first_checkpoint, run_mtlbench, send_frozen, training_logs

from mtlbench.errors import MtlbenchError
from mtlbench.results import CHECKPOINT, TRAIN_LOG, iter_runs
from mtlbench.runner.executors import run_grid
from mtlbench.runner.executors.slurm import SlurmExecutor
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore

pytest.importorskip("submitit")


def _metrics(results: Path) -> dict[str, dict]:
    return {run.run_id: run.metrics()["test"] for run in iter_runs(results)}


def _specs(results: Path) -> list[RunSpec]:
    return [RunSpec.from_dict(run.spec) for run in iter_runs(results)]


def _assert_done_once_with_one_resume(results: Path) -> None:
    runs = list(iter_runs(results))
    assert runs and all(run.state == "done" and run.status["completions"] == 1 for run in runs)
    resumed = [run for run in runs if run.status["attempts"] == 2]
    assert len(resumed) == 1, [run.status["attempts"] for run in runs]
    log = [json.loads(line)["kind"] for line in (resumed[0].path / TRAIN_LOG).read_text().splitlines()]
    assert "resume" in log  # it went on from its checkpoint, not from scratch
    assert not any((run.path / CHECKPOINT).exists() for run in runs)


@pytest.mark.slow
def test_submitit_local_mode_requeues_a_preempted_run_which_resumes(sequential: Path, tmp_path: Path) -> None:
    results = tmp_path / "res"
    specs = _specs(sequential)
    ResultStore(results).register(specs)
    executor = SlurmExecutor(tmp_path / "submitit", cluster="local", time_min=30, poll_s=0.2)
    finished = threading.Event()
    watcher = on_first_checkpoint(results, lambda status: os.kill(status["pid"], signal.SIGUSR2), finished.is_set)
    outcomes = run_grid(specs, results, executor)
    finished.set()
    watcher.join()
    assert sorted(o.state for o in outcomes) == ["done"] * len(specs)
    _assert_done_once_with_one_resume(results)
    assert _metrics(results) == _metrics(sequential)
    assert training_logs(results) == training_logs(sequential)  # rlw's weights too, across the requeue


def test_a_job_that_dies_without_a_result_is_recorded_as_failed(sequential: Path, tmp_path: Path) -> None:
    results = tmp_path / "res"
    spec = _specs(sequential)[0]
    ResultStore(results).register([spec])
    executor = SlurmExecutor(tmp_path / "submitit", cluster="local", time_min=30, poll_s=0.2)

    def kill_the_job(status: dict) -> None:
        os.kill(status["pid"], signal.SIGKILL)  # like the OOM killer: no signal handler, no result file

    finished = threading.Event()
    watcher = on_first_checkpoint(results, kill_the_job, finished.is_set)
    (outcome,) = run_grid([spec], results, executor)
    finished.set()
    watcher.join()
    assert outcome.state == "failed"
    status = ResultStore(results).status(spec.run_id)
    assert status["state"] == "failed" and "without a result" in status["reason"]


def test_slurm_without_sbatch_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MtlbenchError, match="needs Slurm's sbatch on PATH"):
        SlurmExecutor(tmp_path)


@pytest.mark.slow
def test_real_slurm_cluster_runs_the_grid_as_a_job_array_and_requeues_a_preempted_run(
    slurm: dict[str, str], sequential: Path, cache_dir: Path, tmp_path: Path
) -> None:
    results = tmp_path / "res"

    def preempt(status: dict) -> None:  # what Slurm sends before a time limit (--signal=USR2@...)
        subprocess.run(["scancel", "--signal=USR2", status["scheduler_job"]], env=slurm, check=True)

    args = ["run", *TINY_GRID, "--executor", "slurm", "--time-min", "30", "--cpus-per-task", "1"]
    proc = mtlbench_process(
        [*args, "--results", str(results), "--no-leaderboard"],
        cache_dir,
        tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watcher = on_first_checkpoint(results, preempt, ended(proc))
    stdout, stderr = proc.communicate()
    watcher.join()
    assert proc.returncode == 0, stderr
    assert "finished" in stdout and "failed 0" in stdout
    array_ids = {run.status["scheduler_job"].split("_")[0] for run in iter_runs(results)}
    assert len(array_ids) == 1  # one job array, one task per run
    _assert_done_once_with_one_resume(results)
    assert _metrics(results) == _metrics(sequential)
    assert training_logs(results) == training_logs(sequential)


@pytest.mark.slow
def test_ctrl_c_cancels_the_slurm_jobs_and_a_rerun_resumes(
    slurm: dict[str, str], cache_dir: Path, tmp_path: Path
) -> None:
    results = tmp_path / "res"
    args = ["run", *TINY_GRID, "--methods", "ls", "--epochs", "30", "--executor", "slurm", "--results", str(results)]
    # 30 short epochs: the job runs under slurmd, outside the grid's frozen process group, and
    # must still be mid-run when the grid's scancel reaches it after Ctrl-C at the first epoch
    args.append("--no-leaderboard")
    proc = mtlbench_process(args, cache_dir, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    on_first_checkpoint(results, lambda status: send_frozen(proc), ended(proc)).join()
    _, stderr = proc.communicate()
    assert proc.returncode == 130, stderr
    (run,) = iter_runs(results)
    assert not _squeue(slurm, run.status["scheduler_job"]), "a job of the interrupted grid is still in Slurm"
    assert run.state == "running" and (run.path / CHECKPOINT).is_file()  # stopped mid-run, resumable
    again = run_mtlbench(args, cache_dir, tmp_path)
    assert again.returncode == 0, again.stderr
    (run,) = iter_runs(results)
    assert run.state == "done" and run.status["completions"] == 1 and run.status["attempts"] == 2
    assert '"kind": "resume"' in (run.path / TRAIN_LOG).read_text()


def _squeue(env: dict[str, str], job: str) -> str:
    """The job's state while Slurm still has it queued, running or ending; empty once it is over."""
    listing = subprocess.run(
        ["squeue", "--noheader", "--array", "--states=PENDING,RUNNING,COMPLETING,REQUEUED", "--format=%i %T"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return " ".join(line for line in listing.splitlines() if line.split()[0] == job)
