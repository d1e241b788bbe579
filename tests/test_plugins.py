"""A third-party method installed with pip is listed, runs in a grid; a broken one is reported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def _mtlbench(args: list[str], site: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site), MTLBENCH_CACHE=str(tmp_path / "cache"))
    return subprocess.run(
        [sys.executable, "-m", "mtlbench", *args], capture_output=True, text=True, env=env, cwd=tmp_path
    )


def test_installed_plugin_is_listed_and_broken_plugin_reported(plugin_path: Path, tmp_path: Path) -> None:
    result = _mtlbench(["list", "methods"], plugin_path, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "unit-sum" in result.stdout
    assert "pcgrad" in result.stdout
    assert "BROKEN PLUGIN broken-method" in result.stderr
    assert "mtlbench_dependency_that_is_not_installed" in result.stderr


def test_plugin_method_runs_in_a_grid(plugin_path: Path, tmp_path: Path) -> None:
    result = _mtlbench(
        ["run", "--methods", "unit-sum", "--seeds", "1", "--epochs", "1", "--results", "res", "--no-leaderboard"],
        plugin_path,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "done" in result.stdout and "unit-sum" in result.stdout
    (status,) = (tmp_path / "res" / "runs").glob("*/status.json")
    assert '"state": "done"' in status.read_text()
