"""Third-party methods installed with pip are listed and run in a grid, a stateful one resumes
exactly after a kill, and a broken one is reported."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from runner.grid_cli import ended, on_first_checkpoint, send_frozen, training_logs

from mtlbench.results import iter_runs

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both example plugins pip-installed into a private folder (the test venv stays untouched)."""
    target = tmp_path_factory.mktemp("site")
    sources = tmp_path_factory.mktemp("plugin-sources")  # pip builds in the source folder: keep tests/ clean
    for name in ("example_plugin", "broken_plugin"):
        shutil.copytree(PLUGINS / name, sources / name, ignore=shutil.ignore_patterns("build", "*.egg-info"))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "--target",
                str(target),
                str(sources / name),
            ],
            check=True,
        )
    return target


def _env(site: Path, tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(site), MTLBENCH_CACHE=str(tmp_path / "cache"))


def _mtlbench(args: list[str], site: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mtlbench", *args],
        capture_output=True,
        text=True,
        env=_env(site, tmp_path),
        cwd=tmp_path,
    )


def test_installed_plugin_is_listed_and_broken_plugin_reported(plugin_path: Path, tmp_path: Path) -> None:
    result = _mtlbench(["list", "methods"], plugin_path, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "unit-sum" in result.stdout
    assert "pcgrad" in result.stdout
    assert "BROKEN PLUGIN broken-method" in result.stderr
    assert "mtlbench_dependency_that_is_not_installed" in result.stderr


GRID = [
    "run", "--methods", "running-mean-norms,unit-sum", "--seeds", "1", "--epochs", "4", "--batch-size", "8",
    "--no-meteor", "--workers", "1", "--no-leaderboard",
    "--data-opt", "synthetic.n_train=24", "--data-opt", "synthetic.n_val=8", "--data-opt", "synthetic.n_test=8",
]  # fmt: skip


def _by_method(results: Path) -> dict[str, tuple[dict, list[dict]]]:
    logs = training_logs(results)
    return {run.spec["method"]: (run.metrics()["test"], logs[run.run_id]) for run in iter_runs(results)}


@pytest.mark.slow
def test_plugin_methods_run_in_a_grid_and_a_stateful_one_resumes_exactly_after_a_kill(
    plugin_path: Path, tmp_path: Path
) -> None:
    """RunningMeanNorms keeps running means in ``state_attributes``: killed (SIGKILL) after its
    first checkpoint and run again, it ends with the numbers and training log of an unkilled run."""
    uninterrupted = _mtlbench([*GRID, "--results", "ref"], plugin_path, tmp_path)
    assert uninterrupted.returncode == 0, uninterrupted.stderr + uninterrupted.stdout
    assert "done" in uninterrupted.stdout and "unit-sum" in uninterrupted.stdout
    reference = _by_method(tmp_path / "ref")
    assert set(reference) == {"running-mean-norms", "unit-sum"}
    assert [entry["info"]["steps"] for entry in reference["running-mean-norms"][1] if entry["kind"] == "step"][-1] == 12

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtlbench", *GRID, "--results", str(killed)],
        cwd=tmp_path,
        env=_env(plugin_path, tmp_path),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    on_first_checkpoint(killed, lambda status: send_frozen(proc, signal.SIGKILL), ended(proc)).join()
    assert proc.wait() == -signal.SIGKILL
    (status,) = (json.loads(path.read_text()) for path in (killed / "runs").glob("*/status.json"))
    assert status["state"] == "running"  # killed mid-run, with a checkpoint to resume from
    again = _mtlbench([*GRID, "--results", str(killed)], plugin_path, tmp_path)
    assert again.returncode == 0, again.stderr
    resumed = _by_method(killed)
    assert any('"kind": "resume"' in (run.path / "train_log.jsonl").read_text() for run in iter_runs(killed))
    assert resumed == reference
