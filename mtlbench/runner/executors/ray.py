"""The Ray executor: one Ray task per run, on an existing cluster or on a local instance it starts.

Workers need mtlbench installed, and the result store (and any real data) on a filesystem
they share with this process: every run writes only into its own folder of the store.
A task whose worker dies (node lost, pre-empted) is retried by Ray and resumes from the
run's last checkpoint, under the same run_id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mtlbench.errors import MtlbenchError
from mtlbench.results import DONE
from mtlbench.runner.executors.base import Executor, ExecutorOption, Job, Outcome, Progress, usable_cores
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore


def _call(job: Job) -> tuple[str, float]:
    return job()


class RayExecutor(Executor):
    """Runs each job as a Ray task with ``cpus_per_task`` CPUs (and as many torch threads) and
    ``gpus_per_task`` GPUs: a fraction packs runs onto a GPU (0.25: four runs per GPU; Ray
    schedules by the fractions and gives each task CUDA_VISIBLE_DEVICES of its GPU).

    ``address``: an existing cluster ("auto", "ray://host:10001", "host:6379"); None starts a
    local instance with ``num_cpus`` CPUs (default: all cores) for the grid and shuts it down
    afterwards. If this process already joined a cluster (``ray.init`` was called), that one is
    used and left running.
    """

    options = (
        ExecutorOption("address", str, "address of an existing cluster (default: start a local one)."),
        ExecutorOption("cpus_per_task", int, "CPU cores (and torch threads) per run."),
        ExecutorOption("gpus_per_task", float, "GPUs per run; a fraction shares one (0.25: four runs per GPU)."),
    )

    def __init__(
        self,
        address: str | None = None,
        cpus_per_task: int | None = None,
        gpus_per_task: float | None = None,
        num_cpus: int | None = None,
        max_retries: int = 3,
    ) -> None:
        if cpus_per_task is not None and cpus_per_task < 1:
            raise MtlbenchError(f"--cpus-per-task must be at least 1; got {cpus_per_task}")
        if gpus_per_task is not None and (gpus_per_task < 0 or (gpus_per_task > 1 and gpus_per_task % 1)):
            raise MtlbenchError(
                f"--gpus-per-task {gpus_per_task:g}: a fraction of one GPU (0.5: two runs share each GPU) "
                "or a whole number of GPUs"
            )
        self.address = address
        self.cpus_per_task = cpus_per_task or 1
        self.gpus_per_task = gpus_per_task or 0
        self.num_cpus = num_cpus
        self.max_retries = max_retries

    def run(
        self, specs: Sequence[RunSpec], make_job: Callable[[RunSpec, int], Job], progress: Progress | None = None
    ) -> list[Outcome]:
        import ray

        if not specs:
            return []
        started_here = not ray.is_initialized()
        if started_here:
            self._connect(ray)
        outcomes: list[Outcome] = []
        pending: dict[Any, tuple[Job, float]] = {}
        try:
            self._check_capacity(ray)
            task = ray.remote(_call).options(
                num_cpus=self.cpus_per_task,
                num_gpus=self.gpus_per_task,
                max_retries=self.max_retries,
                retry_exceptions=False,
            )
            for spec in specs:
                job = make_job(spec, self.cpus_per_task)
                pending[task.remote(job)] = (job, time.perf_counter())
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    job, started = pending.pop(ref)
                    try:
                        outcome = Outcome(job.run_spec, *ray.get(ref))
                    except ray.exceptions.RayError as err:  # the worker died: not recorded by run_one
                        outcome = job.lost(err, started)
                    _check_shared(job, outcome)
                    outcomes.append(outcome)
                    if progress is not None:
                        progress(outcome)
        except BaseException:
            for ref in pending:  # Ctrl-C or a crash here: stop the runs still queued or running
                ray.cancel(ref, force=True)
            raise
        finally:
            if started_here:
                ray.shutdown()
        return outcomes

    def _connect(self, ray: Any) -> None:
        if self.address:
            try:
                ray.init(address=self.address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise MtlbenchError(f"could not join the Ray cluster at {self.address}: {err}") from None
        else:
            cpus = self.num_cpus or usable_cores()
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)

    def _check_capacity(self, ray: Any) -> None:
        """A task asking for more CPUs than the cluster has would wait forever: refuse it now."""
        resources = ray.cluster_resources()
        for flag, wanted, kind in (
            ("--cpus-per-task", self.cpus_per_task, "CPU"),
            ("--gpus-per-task", self.gpus_per_task, "GPU"),
        ):
            available = resources.get(kind, 0)
            if wanted > available:
                raise MtlbenchError(f"{flag} {wanted:g} is more than the Ray cluster's {available:g} {kind}s")


def _check_shared(job: Job, outcome: Outcome) -> None:
    """A run a worker finished must be in this process's store; otherwise the workers write
    elsewhere and every result of the grid would be out of reach: stop now and say why."""
    if outcome.state == DONE and ResultStore(Path(job.results)).state(outcome.spec.run_id) != DONE:
        raise MtlbenchError(
            f"run {outcome.spec.run_id} finished on the Ray cluster but is not done in {job.results} here: "
            "the results folder must be on a filesystem shared with the Ray workers"
        )
