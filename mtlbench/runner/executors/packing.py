"""Several runs in one scheduler task: how Slurm shares its whole GPUs between runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mtlbench.runner.executors.base import Job, Outcome
from mtlbench.runner.executors.local import LocalExecutor
from mtlbench.runner.spec import RunSpec


@dataclass(frozen=True)
class JobPack:
    """Jobs that one array task runs side by side: ``runs_per_gpu`` on each GPU the task was
    given, through the local executor's pool (one process per run, pinned to its GPU). Returns
    one (state, seconds) per job, in order; a run that fails is recorded as failed by itself."""

    jobs: tuple[Job, ...]
    runs_per_gpu: int

    def __call__(self) -> list[tuple[str, float]]:
        by_id = {job.run_spec.run_id: job for job in self.jobs}

        def make_job(spec: RunSpec, threads: int) -> Job:
            return by_id[spec.run_id]

        executor = LocalExecutor(workers=None if len(self.jobs) > 1 else 1, runs_per_gpu=self.runs_per_gpu)
        specs = [job.run_spec for job in self.jobs]
        ended = {o.spec.run_id: (o.state, o.seconds) for o in executor.run(specs, make_job)}
        return [ended[job.run_spec.run_id] for job in self.jobs]

    def outcomes(self, results: Sequence[tuple[str, float]]) -> list[Outcome]:
        return [Outcome(job.run_spec, *result) for job, result in zip(self.jobs, results, strict=True)]

    def lost(self, error: BaseException, started: float) -> list[Outcome]:
        return [job.lost(error, started) for job in self.jobs]


def packs(jobs: Sequence[Job], size: int, runs_per_gpu: int) -> list[JobPack]:
    """``jobs`` in packs of ``size`` (the last may be smaller), in order."""
    return [JobPack(tuple(jobs[i : i + size]), runs_per_gpu) for i in range(0, len(jobs), size)]
