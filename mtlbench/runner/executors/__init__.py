"""Executors: local (default), ray and slurm behind one interface."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mtlbench.runner.executors.base import Executor, Job, Outcome, Progress
from mtlbench.runner.executors.local import LocalExecutor
from mtlbench.runner.loading import DEFAULT_LOADING, LoadSettings
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.trackers import TrackerSettings
from mtlbench.train.checkpoint import DEFAULT_CHECKPOINTS, CheckpointSettings

__all__ = ["Executor", "Job", "LocalExecutor", "Outcome", "Progress", "run_grid"]


def run_grid(
    specs: Sequence[RunSpec],
    results: Path,
    executor: Executor,
    *,
    data_root: Path | None = None,
    device: str | None = None,
    progress: Progress | None = None,
    trackers: TrackerSettings | None = None,
    models_dir: Path | None = None,
    loading: LoadSettings = DEFAULT_LOADING,
    checkpoints: CheckpointSettings = DEFAULT_CHECKPOINTS,
) -> list[Outcome]:
    """Run ``specs`` on ``executor``, every run writing into the store at ``results``."""
    root = str(Path(results).resolve())
    data = str(Path(data_root).resolve()) if data_root else None
    models = str(Path(models_dir).resolve()) if models_dir else None

    def make_job(spec: RunSpec, threads: int) -> Job:
        return Job(
            spec=spec.to_dict(),
            results=root,
            data_root=data,
            device=device,
            threads=threads,
            trackers=trackers,
            models_dir=models,
            loading=loading,
            checkpoints=checkpoints,
        )

    return executor.run(specs, make_job, progress)
