"""The Slurm executor: the grid as submitit job arrays, waited on until every run has ended.

Each array task runs one job. When Slurm signals a task before its time limit or a
pre-emption, submitit calls the job's ``checkpoint`` and requeues the very same job (same
RunSpec, same run_id), which then resumes from the run's last checkpoint; so does a
task that Slurm itself requeues after a node failure. The result store must be on a
filesystem that the compute nodes share with this process.

Without Slurm accounting (no ``sacct``), submitit warns that it cannot read job states; this
executor does not depend on it: it watches the result files and asks ``squeue`` whether a task
that left none is still queued or running.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtlbench.errors import MtlbenchError
from mtlbench.runner.executors.base import Executor, ExecutorOption, Job, Outcome, Progress
from mtlbench.runner.executors.packing import JobPack, packs
from mtlbench.runner.spec import RunSpec

MAX_ARRAY_SIZE = 1000
"""Slurm's default MaxArraySize is 1001: larger grids go out as several arrays."""

_ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "COMPLETING", "CONFIGURING", "RESIZING"}
_ACTIVE |= {"SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "SPECIAL_EXIT", "UNKNOWN_ASSUMED_ACTIVE"}
"""squeue states of a task that may still produce a result (REQUEUE_HOLD / SPECIAL_EXIT: until released)."""


class RequeueableJob:
    """What submitit runs: the job, plus the ``checkpoint`` hook that submitit calls on the
    time-limit or pre-emption signal to requeue the same job (it resumes from its checkpoint)."""

    def __call__(self, job: Job) -> tuple[str, float]:
        return job()

    def checkpoint(self, job: Job) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self, job)


class SlurmExecutor(Executor):
    """Submits the runs as job arrays through submitit and reports each as it ends.

    ``cluster="local"`` uses submitit's local mode (the same submission path with local
    processes), for tests and for trying a grid without a cluster.
    """

    options = (
        ExecutorOption("partition", str, "partition to submit to."),
        ExecutorOption(
            "time_min",
            int,
            "time limit of a run's job in minutes (default 60); at the limit it is requeued and resumes.",
        ),
        ExecutorOption("cpus_per_task", int, "CPU cores (and torch threads) per run."),
        ExecutorOption("gpus_per_task", float, "whole GPUs per array task."),
        ExecutorOption("runs_per_gpu", int, "runs per GPU of an array task, side by side (default 1)."),
        ExecutorOption("mem_gb", float, "memory per run in GB."),
        ExecutorOption("array_parallelism", int, "most array tasks running at once."),
        ExecutorOption(
            "max_requeues", int, "how often a run that hits its time limit is requeued to resume (default 3)."
        ),
        ExecutorOption("folder", Path, "folder for submitit's job files (default: RESULTS/slurm).", "--slurm-folder"),
    )

    @classmethod
    def from_options(cls, results: Path, **options: Any) -> SlurmExecutor:
        """submitit's job files go under the grid's store unless ``folder`` says otherwise."""
        return cls(**({"folder": Path(results) / "slurm"} | options))

    def __init__(
        self,
        folder: Path | str = "results/slurm",
        *,
        partition: str | None = None,
        time_min: float | None = None,
        cpus_per_task: int | None = None,
        gpus_per_task: float | None = None,
        mem_gb: float | None = None,
        array_parallelism: int | None = None,
        max_requeues: int = 3,
        runs_per_gpu: int | None = None,
        cluster: str = "slurm",
        signal_delay_s: int | None = None,
        poll_s: float = 5.0,
    ) -> None:
        if cluster not in ("slurm", "local"):
            raise MtlbenchError(f"unknown submitit cluster {cluster!r}; use slurm or local")
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise MtlbenchError("--executor slurm needs Slurm's sbatch on PATH; run this on a cluster's login node")
        for name, value in (("--cpus-per-task", cpus_per_task), ("--time-min", time_min)):
            if value is not None and value < 1:
                raise MtlbenchError(f"{name} must be at least 1; got {value}")
        if gpus_per_task is not None and (gpus_per_task < 0 or gpus_per_task != int(gpus_per_task)):
            raise MtlbenchError(
                f"--gpus-per-task {gpus_per_task:g}: Slurm allocates whole GPUs; share them between runs "
                "with --runs-per-gpu N instead"
            )
        if runs_per_gpu is not None and (runs_per_gpu < 1 or not gpus_per_task):
            raise MtlbenchError(
                "--runs-per-gpu needs at least 1, and --gpus-per-task of 1 or more: it packs runs onto a task's GPUs"
            )
        self.folder = Path(folder).resolve()
        self.partition = partition
        self.time_min = time_min or 60
        self.cpus_per_task = cpus_per_task or 1
        self.gpus_per_task = int(gpus_per_task or 0)
        self.runs_per_gpu = runs_per_gpu or 1
        self.pack = self.runs_per_gpu * max(1, self.gpus_per_task)
        """Runs per array task: ``runs_per_gpu`` on each of its GPUs, side by side (1: no packing)."""
        self.mem_gb = mem_gb
        self.array_parallelism = array_parallelism
        self.max_requeues = max_requeues
        self.cluster = cluster
        self.signal_delay_s = signal_delay_s if signal_delay_s is not None else min(90, int(self.time_min * 15))
        self.poll_s = poll_s
        self.jobs: dict[str, Any] = {}
        """run_id -> the submitit job of the grid being run (e.g. to interrupt one in a test)."""

    def run(
        self, specs: Sequence[RunSpec], make_job: Callable[[RunSpec, int], Job], progress: Progress | None = None
    ) -> list[Outcome]:
        if not specs:
            return []
        jobs = [make_job(spec, max(1, self.cpus_per_task // self.pack)) for spec in specs]
        submitted = self._submit(jobs if self.pack == 1 else packs(jobs, self.pack, self.runs_per_gpu))
        outcomes: list[Outcome] = []
        try:
            for item, failure in self._as_finished(submitted):
                if failure is None:
                    try:
                        ended = _outcomes(item.job, item.task.result())
                    except Exception as err:  # submitit's own failure (e.g. timed out too many times)
                        ended = _lost(item.job, err, item.started)
                else:
                    ended = _lost(item.job, failure, item.started)
                for outcome in ended:
                    outcomes.append(outcome)
                    if progress is not None:
                        progress(outcome)
        except BaseException:  # Ctrl-C: leave nothing running that a re-run would duplicate
            self._cancel([item.task for item in submitted if not item.task.paths.result_pickle.exists()])
            raise
        return outcomes

    def _cancel(self, tasks: list[Any]) -> None:
        if self.cluster == "local":
            for task in tasks:
                task.cancel(check=False)
            return
        ids = [task.job_id for task in tasks]
        for start in range(0, len(ids), 200):  # one scancel per batch, not one per array task
            batch = ids[start : start + 200]
            # SIGINT first: a running run stops at once, resumable (submitit ignores the SIGTERM of a
            # plain scancel, so the run would go on for the cluster's KillWait); then cancel them all
            for command in (["scancel", "--signal=INT", *batch], ["scancel", *batch]):
                subprocess.run(command, capture_output=True, timeout=60, check=False)
        self._wait_until_gone(ids)

    def _wait_until_gone(self, ids: list[str], timeout_s: float = 300.0) -> None:
        """Wait until Slurm has ended the cancelled jobs, so that a re-run of the grid started right
        away cannot meet one of its runs still running."""
        deadline = time.monotonic() + timeout_s
        told = False
        while ids and time.monotonic() < deadline:
            states = _squeue_states(ids)
            ids = [job_id for job_id in ids if states.get(job_id) in _ACTIVE]
            if not ids:
                return
            if not told:
                print(f"waiting for {len(ids)} cancelled Slurm job(s) to end...", file=sys.stderr, flush=True)
                told = True
            time.sleep(1.0)

    def _executor(self) -> Any:
        import submitit

        if self.cluster == "local":
            executor = submitit.LocalExecutor(self.folder, max_num_timeout=self.max_requeues)
            executor.update_parameters(
                timeout_min=self.time_min, signal_delay_s=self.signal_delay_s, tasks_per_node=1, nodes=1
            )
            return executor
        executor = submitit.SlurmExecutor(self.folder, max_num_timeout=self.max_requeues)
        parameters: dict[str, Any] = {
            "job_name": "mtlbench",
            "time": math.ceil(self.time_min),
            "cpus_per_task": self.cpus_per_task,
            "ntasks_per_node": 1,
            "nodes": 1,
            "signal_delay_s": self.signal_delay_s,
            "array_parallelism": self.array_parallelism or MAX_ARRAY_SIZE,
        }
        if self.partition:
            parameters["partition"] = self.partition
        if self.gpus_per_task:
            parameters["gpus_per_node"] = self.gpus_per_task
        if self.mem_gb is not None:
            parameters["mem"] = f"{max(1, round(self.mem_gb * 1024))}MB"
        executor.update_parameters(**parameters)
        return executor

    def _submit(self, jobs: Sequence[Job | JobPack]) -> list[_Submitted]:
        executor = self._executor()
        submitted: list[_Submitted] = []
        for start in range(0, len(jobs), MAX_ARRAY_SIZE):
            chunk = jobs[start : start + MAX_ARRAY_SIZE]
            try:
                tasks = executor.map_array(RequeueableJob(), chunk)
            except subprocess.CalledProcessError as err:
                raise MtlbenchError(f"sbatch refused the job array: {_text(err.output).strip()}") from None
            now = time.perf_counter()
            for job, task in zip(chunk, tasks, strict=True):
                submitted.append(_Submitted(job, task, now))
                for one in job.jobs if isinstance(job, JobPack) else (job,):
                    self.jobs[one.run_spec.run_id] = task
        return submitted

    def _as_finished(self, submitted: list[_Submitted]) -> Iterator[tuple[_Submitted, BaseException | None]]:
        """Yield each job as it ends: with None when its result is there, else why it has none."""
        waiting = list(submitted)
        misses: dict[int, int] = {}
        while waiting:
            still = []
            states = _squeue_states([item.task.job_id for item in waiting]) if self.cluster == "slurm" else {}
            for item in waiting:
                task = item.task
                if task.paths.result_pickle.exists():
                    yield item, None
                elif self.cluster == "local":
                    if task.done() and not task.paths.result_pickle.exists():  # ended without a result
                        yield item, RuntimeError(f"the job process ended without a result; see {task.paths.stderr}")
                    else:
                        still.append(item)
                elif states.get(task.job_id, "") in _ACTIVE:
                    misses.pop(id(item), None)
                    still.append(item)
                else:  # two polls in a row without a result: not a result file still on its way
                    misses[id(item)] = misses.get(id(item), 0) + 1
                    if misses[id(item)] < 2:
                        still.append(item)
                        continue
                    state = states.get(task.job_id)
                    why = f"in state {state}" if state else "no longer known to squeue"
                    yield (
                        item,
                        RuntimeError(
                            f"Slurm job {task.job_id} ended without a result ({why}); see {task.paths.stderr}"
                        ),
                    )
            waiting = still
            if waiting:
                time.sleep(self.poll_s)


def _outcomes(job: Job | JobPack, result: Any) -> list[Outcome]:
    return job.outcomes(result) if isinstance(job, JobPack) else [Outcome(job.run_spec, *result)]


def _lost(job: Job | JobPack, error: BaseException, started: float) -> list[Outcome]:
    return job.lost(error, started) if isinstance(job, JobPack) else [job.lost(error, started)]


@dataclass
class _Submitted:
    job: Job | JobPack
    task: Any
    """The submitit job."""
    started: float


def _squeue_states(job_ids: Sequence[str]) -> dict[str, str]:
    """job id (array tasks as ARRAY_TASK) -> Slurm state, for the jobs squeue still knows."""
    arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
    command = ["squeue", "--noheader", "--array", "--states=all", "--format=%i %T", "--jobs", ",".join(arrays)]
    unknown = {job_id: "UNKNOWN_ASSUMED_ACTIVE" for job_id in job_ids}
    try:
        listing = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return unknown  # squeue unreachable (controller restarting?): assume nothing ended
    if listing.returncode != 0:
        return {} if "invalid job id" in listing.stderr.lower() else unknown
    states = {}
    for line in listing.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def _text(output: bytes | str | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""
