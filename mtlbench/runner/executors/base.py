"""The one small interface every executor fulfils; training code never knows which one ran it."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from mtlbench.results import DONE, FAILED
from mtlbench.runner.loading import DEFAULT_LOADING, LoadSettings
from mtlbench.runner.run_one import run_one
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore
from mtlbench.runner.trackers import TrackerSettings
from mtlbench.train.checkpoint import DEFAULT_CHECKPOINTS, CheckpointSettings


@dataclass(frozen=True)
class Outcome:
    """How one run ended, as the executor saw it."""

    spec: RunSpec
    state: str
    seconds: float


Progress = Callable[[Outcome], None]


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to run one spec: plain data, so it pickles to any executor."""

    spec: dict
    results: str
    data_root: str | None
    device: str | None
    threads: int
    trackers: TrackerSettings | None = None
    """Experiment trackers to feed (not part of the run's identity)."""
    models_dir: str | None = None
    """Weights of the extra metric families (a path: never part of a run's identity)."""
    loading: LoadSettings = DEFAULT_LOADING
    """How the run reads its data (loader workers, image cache): speed only, never its numbers."""
    checkpoints: CheckpointSettings = DEFAULT_CHECKPOINTS
    """How often the run saves its state inside epochs: what a kill costs, never its numbers."""

    @property
    def run_spec(self) -> RunSpec:
        return RunSpec.from_dict(self.spec)

    def __call__(self) -> tuple[str, float]:
        """Run the spec; returns (state, seconds). Failures are recorded in the store, not raised.

        A run the store already holds as done is not run again: a scheduler may requeue a job
        whose run had just finished, and nothing may run twice.
        """
        if ResultStore(Path(self.results)).state(self.run_spec.run_id) == DONE:
            return DONE, 0.0
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        started = time.perf_counter()
        try:
            state = run_one(
                self.run_spec,
                Path(self.results),
                data_root=Path(self.data_root) if self.data_root else None,
                device=self.device,
                trackers=self.trackers,
                models_dir=Path(self.models_dir) if self.models_dir else None,
                loading=self.loading,
                checkpoints=self.checkpoints,
            )
        finally:
            torch.set_num_threads(previous)
        return state, time.perf_counter() - started

    def lost(self, error: BaseException, started: float) -> Outcome:
        """The outcome of a job that died outside ``run_one`` (worker crash, job killed by the
        scheduler): recorded as failed in the store unless the run got to finish first."""
        spec = self.run_spec
        store = ResultStore(Path(self.results))
        if store.state(spec.run_id) == DONE:
            return Outcome(spec, DONE, time.perf_counter() - started)
        store.fail(spec, error)
        return Outcome(spec, FAILED, time.perf_counter() - started)


def usable_cores() -> int:
    """The cores this process may run on (a cpuset, taskset or Slurm allocation), not the host's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ExecutorOption:
    """A command-line option of ``mtlbench run`` that one or more executors take (an ``__init__`` keyword)."""

    name: str
    """The keyword, and the option's name: ``--cpus-per-task`` is "cpus_per_task"."""
    type: type
    help: str
    flag: str = ""
    """The command-line flag when it is not ``--`` + the name with dashes (e.g. ``--slurm-folder``)."""

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


class Executor(ABC):
    """Runs jobs somewhere and reports each outcome as it arrives.

    An executor must leave nothing running behind it when ``run`` returns or raises
    (KeyboardInterrupt included): what was interrupted stays "running" in the store with its
    checkpoint, and a re-run of the grid resumes it.

    ``options`` declares the executor's own command-line options (``mtlbench run`` offers every
    executor's; those of another executor are refused in one line); :meth:`from_options` builds
    the executor from the ones given.
    """

    options: ClassVar[tuple[ExecutorOption, ...]] = ()

    @classmethod
    def from_options(cls, results: Path, **options: Any) -> Executor:
        """The executor for a grid whose store is ``results``, with the options the user gave."""
        return cls(**options)

    @abstractmethod
    def run(
        self, specs: Sequence[RunSpec], make_job: Callable[[RunSpec, int], Job], progress: Progress | None = None
    ) -> list[Outcome]:
        """Run every spec (``make_job(spec, threads)`` builds its job) and return the outcomes."""
