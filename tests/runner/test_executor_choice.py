"""Choosing an executor: missing extras, options that do not apply, a pool whose worker dies."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner
from crashing_job import CrashingJob

from mtlbench.cli import cli
from mtlbench.errors import MtlbenchError
from mtlbench.runner.executors import LocalExecutor
from mtlbench.runner.executors.factory import make_executor
from mtlbench.runner.executors.ray import RayExecutor
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore


@pytest.mark.parametrize(("executor", "module", "extra"), [("ray", "ray", "ray"), ("slurm", "submitit", "slurm")])
def test_an_executor_whose_extra_is_missing_names_the_extra_to_install(
    executor: str, module: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: importing it fails
    with pytest.raises(
        MtlbenchError, match=rf'--executor {executor} needs {module} .*pip install "mtlbench\[{extra}\]"'
    ):
        make_executor(executor)
    result = CliRunner().invoke(cli, ["run", "--executor", executor, "--no-leaderboard"])
    assert result.exit_code == 1
    assert f'pip install "mtlbench[{extra}]"' in result.output and "Traceback" not in result.output


def test_unknown_executor_and_bad_sizes_are_refused() -> None:
    with pytest.raises(MtlbenchError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(MtlbenchError, match="--workers must be at least 1"):
        make_executor("local", workers=0)
    with pytest.raises(MtlbenchError, match="--cpus-per-task must be at least 1"):
        make_executor("ray", cpus_per_task=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "2", "--executor", "ray"], "--workers do(es) not apply to --executor ray"),
        (["--partition", "gpu"], "--partition do(es) not apply to --executor local; it takes --workers"),
        (["--address", "auto", "--executor", "slurm"], "--address do(es) not apply to --executor slurm"),
    ],
)
def test_options_of_another_executor_are_refused_in_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["run", *args, "--no-leaderboard"])
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_a_pool_worker_that_dies_fails_its_run_and_the_grid_goes_on(tmp_path: Path) -> None:
    specs = [RunSpec("ls", "synthetic", seed) for seed in range(5)]
    store = ResultStore(tmp_path)
    store.register(specs)
    make_job = partial(_crashing_job, results=str(tmp_path))
    outcomes = LocalExecutor(workers=2).run(specs, make_job)
    states = {o.spec.seed: o.state for o in outcomes}
    assert states[2] == "failed"
    assert store.status(specs[2].run_id)["reason"].startswith("the worker process died")
    # the run beside it in the broken pool is failed too (retry with --rerun-failed); never-started
    # runs go on in a fresh pool, and every run is reported once
    assert sorted(states) == [0, 1, 2, 3, 4]
    assert all(store.state(s.run_id) == states[s.seed] for s in specs)
    assert sum(state == "done" for state in states.values()) >= 3


def _crashing_job(spec: RunSpec, threads: int, *, results: str) -> CrashingJob:
    return CrashingJob(spec=spec.to_dict(), results=results, data_root=None, device=None, threads=threads, crash_seed=2)


@pytest.mark.slow
def test_a_ray_task_whose_worker_dies_fails_its_run_and_the_rest_complete(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    here = str(Path(__file__).parent)  # the workers import crashing_job from here
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": here}})
    try:
        specs = [RunSpec("ls", "synthetic", seed) for seed in range(4)]
        store = ResultStore(tmp_path)
        store.register(specs)
        seen = []
        executor = RayExecutor(max_retries=0)
        outcomes = executor.run(specs, partial(_crashing_job, results=str(tmp_path)), seen.append)
        assert ray.is_initialized()  # a cluster this process had joined before is left running
    finally:
        ray.shutdown()
    assert seen == outcomes and sorted(o.spec.seed for o in outcomes) == [0, 1, 2, 3]
    assert {o.spec.seed: o.state for o in outcomes} == {0: "done", 1: "done", 2: "failed", 3: "done"}
    assert "WorkerCrashedError" in store.status(specs[2].run_id)["error_type"] + store.status(specs[2].run_id)["reason"]
