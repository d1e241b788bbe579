"""Fixtures of the runner tests: a shared data cache, the reference sequential grid, a real Slurm cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import slurm_cluster
from grid_cli import TINY_GRID, run_mtlbench


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's synthetic-data cache (the one tests/conftest.py points MTLBENCH_CACHE at),
    so CLI subprocesses and in-process runs generate the data once."""
    return tmp_path_factory.getbasetemp() / "mtlbench-cache"


@pytest.fixture(scope="session")
def sequential(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny grid run by the default sequential path: the reference every executor must match."""
    cwd = tmp_path_factory.mktemp("sequential")
    result = run_mtlbench(["run", *TINY_GRID, "--workers", "1", "--results", "res"], cache_dir, cwd)
    assert result.returncode == 0, result.stderr
    assert "ls" in result.stdout and "pcgrad" in result.stdout and "rlw" in result.stdout
    return cwd / "res"


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real one-node Slurm cluster (see slurm_cluster.py); yields the environment that reaches it.

    Skips, with the reason, where one cannot be set up (not root, no apt-get, packages not
    installable); fails where the packages are there but the daemons do not come up.
    """
    try:
        cluster = slurm_cluster.start(Path(tmp_path_factory.mktemp("slurm")))
    except slurm_cluster.Unavailable as why:
        pytest.skip(f"no real Slurm cluster: {why}")
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = cluster.env["SLURM_CONF"]
    try:
        yield cluster.env
    finally:
        cluster.stop()
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
