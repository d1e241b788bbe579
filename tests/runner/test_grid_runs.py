"""Whole grids through the CLI: executors agree, failures are recorded, bad input is one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from grid_cli import TINY_GRID, run_mtlbench, training_logs

from mtlbench.results import iter_runs
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore


def metrics_by_run(results: Path) -> dict[str, dict]:
    return {run.run_id: run.metrics()["test"] for run in iter_runs(results)}


@pytest.mark.slow
def test_two_worker_pool_gives_the_same_metrics_as_the_sequential_run(
    sequential: Path, cache_dir: Path, tmp_path: Path
) -> None:
    result = run_mtlbench(
        ["run", *TINY_GRID, "--workers", "2", "--results", "pool", "--no-leaderboard"], cache_dir, tmp_path
    )
    assert result.returncode == 0, result.stderr
    got = metrics_by_run(tmp_path / "pool")
    # same run_ids from another results folder and executor: identity is the semantic config only
    assert got == metrics_by_run(sequential) and len(got) == 3
    assert training_logs(tmp_path / "pool") == training_logs(sequential)  # rlw's weights included
    assert "  ls seed=0 epoch 2/2" in result.stdout  # per-run epoch progress from pool workers


@pytest.mark.slow
def test_ray_executor_on_a_real_local_instance_gives_the_same_metrics(
    sequential: Path, cache_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("ray")
    args = ["run", *TINY_GRID, "--executor", "ray", "--cpus-per-task", "1", "--results", "ray", "--no-leaderboard"]
    result = run_mtlbench([*args, "--data-root", str(tmp_path / "elsewhere")], cache_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Started a local Ray instance" in result.stderr
    got = metrics_by_run(tmp_path / "ray")
    assert got == metrics_by_run(sequential) and len(got) == 3  # run_ids too: paths and executor are not identity
    assert training_logs(tmp_path / "ray") == training_logs(sequential)
    for run in iter_runs(tmp_path / "ray"):
        assert run.status["environment"]["torch_threads"] == 1  # --cpus-per-task sets the worker's threads


def test_rerun_skips_what_is_done(sequential: Path, cache_dir: Path) -> None:
    result = run_mtlbench(
        ["run", *TINY_GRID, "--results", str(sequential), "--no-leaderboard"], cache_dir, sequential.parent
    )
    assert result.returncode == 0, result.stderr
    assert "3 already done, 0 to run" in result.stdout


def test_diverging_run_is_failed_with_its_reason_and_the_grid_goes_on(cache_dir: Path, tmp_path: Path) -> None:
    grid = tmp_path / "diverge.toml"
    grid.write_text('methods = ["ls", "pcgrad"]\nseeds = 1\n[params.ls]\nweights = [1e308, 1e308]\n')
    args = ["run", str(grid), *TINY_GRID[4:], "--epochs", "1", "--results", "res", "--no-leaderboard"]
    result = run_mtlbench(args, cache_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    states = {run.spec["method"]: run for run in iter_runs(tmp_path / "res")}
    assert states["pcgrad"].state == "done"
    assert states["ls"].state == "failed"
    assert "diverged" in states["ls"].status["reason"]
    assert "Traceback" in states["ls"].status["traceback"]
    status = run_mtlbench(["status", "res"], cache_dir, tmp_path)
    assert "diverged" in status.stdout and "1 done, 1 failed" in status.stdout
    again = run_mtlbench([*args, "--rerun-failed"], cache_dir, tmp_path)
    assert "1 already done, 1 to run" in again.stdout


def test_missing_real_datasets_get_one_line_each(cache_dir: Path, tmp_path: Path) -> None:
    result = run_mtlbench(
        ["run", "--methods", "all", "--datasets", "mimic,iu", "--data-root", "nowhere"], cache_dir, tmp_path
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, result.stderr
    assert any("mimic_cxr" in line and "physionet" in line.lower() for line in lines)
    assert any("iu_xray" in line and "annotation.json" in line for line in lines)
    assert "Traceback" not in result.stderr


def test_a_dataset_that_fails_its_check_is_refused_before_any_run(cache_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data" / "iu_xray"
    (folder / "images").mkdir(parents=True)
    studies = {
        split: [{"id": f"{split}{i}", "report": "The heart is normal.", "image_path": [f"{split}{i}/0.png"]}]
        for i, split in enumerate(("train", "val", "test"))
    }
    (folder / "annotation.json").write_text(json.dumps(studies))
    result = run_mtlbench(["run", "--datasets", "iu", "--data-root", "data", "--results", "res"], cache_dir, tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "fails its check" in result.stderr and "3 of 3 image files are missing" in result.stderr
    assert "train0/0.png (id train0)" in result.stderr  # the same precise message as `mtlbench data check`
    assert not (tmp_path / "res").exists()  # refused before the grid started


def test_unknown_method_names_known_ones_and_the_closest(cache_dir: Path, tmp_path: Path) -> None:
    result = run_mtlbench(["run", "--methods", "nosuch"], cache_dir, tmp_path)
    assert result.returncode != 0
    assert "unknown method 'nosuch'" in result.stderr
    known = result.stderr.split("Known methods:")[1]
    assert "ls" in known and "pcgrad" in known
    result = run_mtlbench(["run", "--methods", "pcgrd"], cache_dir, tmp_path)
    assert "Did you mean 'pcgrad'?" in result.stderr


def test_done_runs_made_with_other_defaults_are_kept_and_named(tmp_path: Path) -> None:
    """A run_id hashes only the hyper-parameters given, so a default changed by a later version
    must be said, not silently mixed into a leaderboard."""
    store = ResultStore(tmp_path)
    spec = RunSpec("rlar", "synthetic", 0)
    store.begin(spec, environment={})
    store.finish(spec, {"test": {}}, [])
    config = json.loads((store.path(spec.run_id) / "config.json").read_text())
    assert config["method_hparams"] == {"base": "ls", "beta": 0.1, "tau": 0.0}
    assert store.changed_defaults([spec]) == []
    config["method_hparams"]["tau"] = 0.5  # as an older version recorded it
    (store.path(spec.run_id) / "config.json").write_text(json.dumps(config))
    (line,) = store.changed_defaults([spec])
    assert line.startswith("1 done runs of rlar used hyper-parameters that differ from this version's (tau 0.5 -> 0.0)")
    assert store.todo([spec]) == []  # kept as done: the user decides


def test_a_rerun_warns_about_done_runs_made_with_other_defaults(cache_dir: Path, tmp_path: Path) -> None:
    args = ["run", *TINY_GRID, "--methods", "ls", "--no-leaderboard", "--results", "res"]
    assert run_mtlbench(args, cache_dir, tmp_path).returncode == 0
    (run,) = iter_runs(tmp_path / "res")
    config = json.loads((run.path / "config.json").read_text())
    config["method_hparams"]["reduction"] = "mean"
    (run.path / "config.json").write_text(json.dumps(config))
    again = run_mtlbench(args, cache_dir, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "warning: 1 done runs of ls used hyper-parameters that differ from this version's" in again.stderr
    assert "reduction 'mean' -> 'sum'" in again.stderr
