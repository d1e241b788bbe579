"""The local executor: in-process for one worker, a spawn-based process pool for several."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import torch

from mtlbench.errors import MtlbenchError
from mtlbench.runner.executors.base import Executor, ExecutorOption, Job, Outcome, Progress, usable_cores
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore


def _init_worker(gpu_slots: Any = None) -> None:
    """Workers leave Ctrl-C to the parent, which stops them all at once (no half-stopped pool),
    and end as soon as the parent is gone (killed): a re-run must not meet them still running.

    With ``gpu_slots`` (a queue of GPU ids), a worker takes one and sees only that GPU, before
    CUDA starts in it: its runs' device "cuda" is that GPU.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if gpu_slots is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_slots.get())
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="mtlbench-parent-watch", daemon=True).start()


def _call(job: Job) -> tuple[str, float]:
    return job()


def visible_gpus() -> list[str]:
    """The ids of the GPUs this process may use, as CUDA_VISIBLE_DEVICES names them (or 0..n-1)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    named = [g.strip() for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    return named[:count] if len(named) >= count > 0 else [str(i) for i in range(count)]


class LocalExecutor(Executor):
    """``workers`` processes running one run each, with ``threads`` torch threads per run.

    One thread per run by default, the same as one CPU per task on Ray or Slurm: a run's numbers
    depend on its thread count (the order of floating-point reductions), so this is what makes
    the same grid give the same numbers on every executor. The cores are used by running runs
    side by side instead: ``workers=None`` means one worker per core (cores // threads), at most
    one per run.

    With GPUs (``gpus``: their ids; default: every visible one), ``runs_per_gpu`` runs share each
    GPU: ``workers=None`` means ``len(gpus) * runs_per_gpu`` workers (at most one per run), and
    each worker is pinned to one GPU (CUDA_VISIBLE_DEVICES), ``runs_per_gpu`` workers per GPU. A
    small run uses a fraction of a modern GPU, so packing raises the grid's throughput; each run
    computes exactly what it computes alone (its own process, stream and seeds).
    """

    options = (
        ExecutorOption(
            "workers",
            int,
            "parallel worker processes (default: one per core, at most one per run; with GPUs, GPUs x --runs-per-gpu).",
        ),
        ExecutorOption(
            "threads",
            int,
            "torch threads per run (default 1, as with --cpus-per-task 1 on Ray or Slurm, so that a run "
            "gives the same numbers on every executor: its numbers depend on its thread count).",
        ),
        ExecutorOption(
            "runs_per_gpu",
            int,
            "runs sharing each GPU at once (default 1); slurm: runs per GPU of an array task, side by side.",
        ),
    )

    def __init__(
        self,
        workers: int | None = None,
        threads: int | None = None,
        runs_per_gpu: int | None = None,
        gpus: Sequence[str] | None = None,
    ) -> None:
        for flag, value in (("--workers", workers), ("--threads", threads), ("--runs-per-gpu", runs_per_gpu)):
            if value is not None and value < 1:
                raise MtlbenchError(f"{flag} must be at least 1; got {value}")
        self.requested_workers = workers
        self.threads = threads or 1
        self.workers = workers or 1
        self.runs_per_gpu = runs_per_gpu or 1
        self.gpus = list(gpus) if gpus is not None else None

    def _gpus(self) -> list[str]:
        return self.gpus if self.gpus is not None else visible_gpus()

    def workers_for(self, n_runs: int) -> int:
        if self.requested_workers is not None:
            return self.requested_workers
        gpus = self._gpus()
        if gpus:
            return max(1, min(len(gpus) * self.runs_per_gpu, n_runs))
        return max(1, min(usable_cores() // self.threads, n_runs))

    def _gpu_slots(self, jobs: Sequence[Job]) -> list[str] | None:
        """GPU id per worker, ``runs_per_gpu`` per GPU in turn; None when runs choose their own
        device (CPU, or an explicit ``--device``) or a single worker runs everything."""
        gpus = self._gpus()
        if not gpus or self.workers == 1 or any(job.device for job in jobs):
            return None
        return [gpus[i % len(gpus)] for i in range(self.workers)]

    def run(
        self, specs: Sequence[RunSpec], make_job: Callable[[RunSpec, int], Job], progress: Progress | None = None
    ) -> list[Outcome]:
        outcomes: list[Outcome] = []

        def record(outcome: Outcome) -> None:
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome)

        jobs = [make_job(spec, self.threads) for spec in specs]
        self.workers = self.workers_for(len(jobs))
        if self.workers == 1:
            for job in jobs:  # a KeyboardInterrupt leaves the current run "running", to resume later
                record(Outcome(job.run_spec, *job()))
            return outcomes
        while jobs:
            jobs = self._pool(jobs, record)
        return outcomes

    def _pool(self, jobs: list[Job], record: Callable[[Outcome], None]) -> list[Job]:
        """Run ``jobs`` in a fresh pool; returns those never started when a worker died."""
        attempts = {job.run_spec.run_id: _attempts(job) for job in jobs}
        context = multiprocessing.get_context("spawn")
        slots = self._gpu_slots(jobs)
        queue = None
        if slots is not None:
            queue = context.Queue()
            for gpu in slots:
                queue.put(gpu)
        pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_init_worker, initargs=(queue,)
        )
        unstarted: list[Job] = []
        try:
            pending: dict[Future, tuple[Job, float]] = {
                pool.submit(_call, job): (job, time.perf_counter()) for job in jobs
            }
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    job, started = pending.pop(future)
                    try:
                        record(Outcome(job.run_spec, *future.result()))
                    except BrokenProcessPool as err:
                        if _attempts(job) > attempts[job.run_spec.run_id]:
                            reason = RuntimeError(
                                f"the worker process died (killed, or out of memory) during this run: {err}"
                            )
                            record(job.lost(reason, started))
                        else:
                            unstarted.append(job)
            pool.shutdown()
        except BaseException:
            _stop(pool)
            raise
        if len(unstarted) == len(jobs):
            raise MtlbenchError("the worker processes died before starting any run; try --workers 1 to see why")
        return unstarted


def _attempts(job: Job) -> int:
    return int(ResultStore(Path(job.results)).status(job.run_spec.run_id).get("attempts", 0))


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and terminate the workers now; their runs stay resumable."""
    processes = list(getattr(pool, "_processes", {}).values())  # no public API before Python 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join()
