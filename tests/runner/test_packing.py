"""Several runs per GPU (local pool pinned per GPU, Slurm packs), loader workers and the image cache
change where and how fast runs go, never their numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtlbench.errors import MtlbenchError
from mtlbench.results import iter_runs
from mtlbench.runner.executors import run_grid
from mtlbench.runner.executors.base import Job
from mtlbench.runner.executors.local import LocalExecutor
from mtlbench.runner.executors.packing import packs
from mtlbench.runner.executors.ray import RayExecutor
from mtlbench.runner.executors.slurm import SlurmExecutor
from mtlbench.runner.loading import LoadSettings
from mtlbench.runner.spec import RunSpec


def _job(seed: int, device: str | None = None) -> Job:
    return Job(spec=RunSpec("ls", "synthetic", seed).to_dict(), results="r", data_root=None, device=device, threads=1)


def test_runs_per_gpu_sizes_the_pool_and_pins_each_worker_to_a_gpu() -> None:
    executor = LocalExecutor(runs_per_gpu=2, gpus=["3", "5"])
    executor.workers = executor.workers_for(10)
    assert executor.workers == 4 and executor.workers_for(3) == 3  # never more workers than runs
    assert executor._gpu_slots([_job(0)]) == ["3", "5", "3", "5"]
    assert executor._gpu_slots([_job(0, device="cuda:1")]) is None  # an explicit device is left alone
    assert LocalExecutor(gpus=[]).workers_for(10) >= 1  # CPU: one worker per core, as before
    with pytest.raises(MtlbenchError, match="--runs-per-gpu must be at least 1"):
        LocalExecutor(runs_per_gpu=0)


def test_ray_takes_a_fraction_of_a_gpu_or_whole_gpus() -> None:
    assert RayExecutor(gpus_per_task=0.25).gpus_per_task == 0.25  # four runs per GPU
    assert RayExecutor(gpus_per_task=2).gpus_per_task == 2
    with pytest.raises(MtlbenchError, match=r"a fraction of one GPU .* or a whole number"):
        RayExecutor(gpus_per_task=1.5)


def test_slurm_keeps_whole_gpus_and_packs_runs_into_array_tasks(tmp_path: Path) -> None:
    with pytest.raises(MtlbenchError, match="Slurm allocates whole GPUs; share them between runs with --runs-per-gpu"):
        SlurmExecutor(tmp_path, gpus_per_task=0.5, cluster="local")
    with pytest.raises(MtlbenchError, match="--runs-per-gpu needs"):
        SlurmExecutor(tmp_path, runs_per_gpu=2, cluster="local")
    executor = SlurmExecutor(tmp_path, gpus_per_task=2, runs_per_gpu=3, cluster="local")
    assert executor.pack == 6
    grouped = packs([_job(seed) for seed in range(14)], executor.pack, executor.runs_per_gpu)
    assert [len(p.jobs) for p in grouped] == [6, 6, 2]
    assert [j.run_spec.seed for p in grouped for j in p.jobs] == list(range(14))


@pytest.mark.slow
def test_packed_runs_with_loader_workers_and_no_image_cache_give_the_sequential_numbers(
    sequential: Path, tmp_path: Path
) -> None:
    """The reference ran one run at a time, in-process, with the image cache and no loader workers.
    Here: two runs at once on one (CPU-only, so notional) GPU slot, each with a loader worker
    process per loader, decoding every image from its file."""
    specs = [RunSpec.from_dict(run.spec) for run in iter_runs(sequential)]
    executor = LocalExecutor(runs_per_gpu=2, gpus=["0"])
    outcomes = run_grid(specs, tmp_path, executor, loading=LoadSettings(workers=1, image_cache=False))
    assert executor.workers == 2 and [o.state for o in outcomes] == ["done"] * len(specs)
    got = {run.run_id: run.metrics()["test"] for run in iter_runs(tmp_path)}
    assert got == {run.run_id: run.metrics()["test"] for run in iter_runs(sequential)}
