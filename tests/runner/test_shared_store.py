"""Two grids started at the same time on one store: every run is trained exactly once, and the
store ends as a single grid leaves it (benchmarks/shared_store.py repeats this 20 times)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from grid_cli import TINY_GRID, assert_trained_once_as_a_single_grid, mtlbench_process

from mtlbench.results import iter_runs
from mtlbench.runner.benchmark import run_benchmark
from mtlbench.runner.executors.slurm import SlurmExecutor
from mtlbench.runner.spec import RunSpec

GRID = [*TINY_GRID, "--no-leaderboard", "--workers", "1"]


@pytest.mark.slow
def test_two_local_grids_on_one_store(sequential: Path, cache_dir: Path, tmp_path: Path) -> None:
    args = ["run", *GRID, "--results", str(tmp_path / "res")]
    grids = [mtlbench_process(args, cache_dir, tmp_path, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [grid.communicate()[0] for grid in grids]
    assert [grid.returncode for grid in grids] == [0, 0], outputs
    assert_trained_once_as_a_single_grid(tmp_path / "res", sequential)


@pytest.mark.slow
def test_a_local_grid_and_a_submitit_grid_on_one_store(sequential: Path, cache_dir: Path, tmp_path: Path) -> None:
    results = tmp_path / "res"
    local = mtlbench_process(["run", *GRID, "--results", str(results)], cache_dir, tmp_path, stdout=subprocess.PIPE)
    specs = [RunSpec.from_dict(run.spec) for run in iter_runs(sequential)]
    executor = SlurmExecutor(tmp_path / "submitit", cluster="local", time_min=30, poll_s=0.2)
    run_benchmark(specs, results, executor)
    local.communicate()
    assert local.returncode == 0
    assert_trained_once_as_a_single_grid(results, sequential)
