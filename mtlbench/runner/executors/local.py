"""The local executor: in-process for one worker, a spawn-based process pool for several."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch

from mtlbench.runner.executors.base import Executor, Job, Outcome, Progress
from mtlbench.runner.spec import RunSpec


def _call(job: Job) -> tuple[str, float]:
    return job()


class LocalExecutor(Executor):
    """``workers`` processes, each with cores // workers torch threads so they do not oversubscribe."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)

    def run(
        self, specs: Sequence[RunSpec], make_job: Callable[[RunSpec, int], Job], progress: Progress | None = None
    ) -> list[Outcome]:
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        outcomes: list[Outcome] = []

        def record(spec: RunSpec, state: str, seconds: float) -> None:
            outcomes.append(Outcome(spec, state, seconds))
            if progress is not None:
                progress(outcomes[-1])

        if self.workers == 1:
            previous = torch.get_num_threads()
            try:
                for spec in specs:
                    record(spec, *make_job(spec, threads)())
            finally:
                torch.set_num_threads(previous)
            return outcomes
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=context) as pool:
            futures = {pool.submit(_call, make_job(spec, threads)): spec for spec in specs}
            for future in as_completed(futures):
                record(futures[future], *future.result())
        return outcomes
