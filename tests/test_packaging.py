"""mtlbench installed as a user installs it: from the wheel built from the sdist, without -e.

The wheel holds every package of the source tree and the entry points; installed into a fresh
virtual environment (its dependencies come from the test environment, nothing is downloaded),
its ``mtlbench`` command lists the methods and runs a minimal grid from a folder outside the
source tree.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds, installs and runs: tens of seconds

ROOT = Path(__file__).resolve().parents[1]
UNWANTED = shutil.ignore_patterns(".git", ".venv", ".tox", "build", "dist", "*.egg-info", "__pycache__", "results")


def _source_copy(target: Path) -> Path:
    """The files a checkout would have (tracked and untracked-but-not-ignored), copied to ``target``."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True
    )
    if listed.returncode != 0:  # not a git checkout (an unpacked sdist, say): copy what is there
        shutil.copytree(ROOT, target, ignore=UNWANTED)
        return target
    for name in listed.stdout.splitlines():
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def _packages_in_source() -> set[str]:
    return {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "mtlbench").rglob("*.py")
        if "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, and the wheel built from it (``python -m build``, as a release would be made)."""
    source = _source_copy(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    return out


def test_the_wheel_holds_every_package_and_the_entry_points(dist: Path) -> None:
    (wheel,) = dist.glob("mtlbench-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    packages = {name.rsplit("/", 1)[0].replace("/", ".") for name in names if name.endswith("/__init__.py")}
    assert _packages_in_source() <= packages, sorted(_packages_in_source() - packages)
    assert {"mtlbench.runner", "mtlbench.runner.executors", "mtlbench.methods", "mtlbench.cli"} <= packages
    declared = configparser.ConfigParser(delimiters=("=",))
    declared.read_string(entry_points)
    assert declared["console_scripts"]["mtlbench"].strip() == "mtlbench.cli:main"
    (sdist,) = dist.glob("mtlbench-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"README.md", "setup.cfg", "pyproject.toml", "mtlbench/runner/__init__.py"} <= members


def _fresh_environment(folder: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed (no -e, no index); the test environment's
    site-packages are on its path for the dependencies only."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, capture_output=True)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # a plain path entry: the .pth files there (the editable install of this checkout) are not run
    (Path(site) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(  # this environment's pip installs into the new one (pip --python)
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    return folder / "bin"


def test_a_fresh_install_of_the_wheel_lists_the_methods_and_runs_a_grid(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("mtlbench-*.whl")
    bin_dir = _fresh_environment(tmp_path / "env", wheel)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["MTLBENCH_CACHE"] = str(tmp_path / "cache")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=outside, env=env, capture_output=True, text=True)

    where = run(str(bin_dir / "python"), "-c", "import mtlbench; print(mtlbench.__file__)")
    assert where.stdout.startswith(str(tmp_path / "env")), where.stdout + where.stderr  # the wheel, not the source
    listed = run(str(bin_dir / "mtlbench"), "list", "methods")
    assert listed.returncode == 0, listed.stderr
    assert "pcgrad" in listed.stdout and "came-grad" in listed.stdout
    grid = run(
        str(bin_dir / "mtlbench"),
        *("run", "--methods", "ls", "--seeds", "1", "--epochs", "1", "--batch-size", "8", "--no-meteor"),
        *("--data-opt", "synthetic.n_train=16", "--data-opt", "synthetic.n_val=8", "--data-opt", "synthetic.n_test=8"),
        *("--results", "res", "--no-leaderboard"),
    )
    assert grid.returncode == 0, grid.stderr
    (status,) = (outside / "res" / "runs").glob("*/status.json")
    assert '"state": "done"' in status.read_text()
