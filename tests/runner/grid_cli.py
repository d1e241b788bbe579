"""Running the mtlbench CLI in a subprocess on a tiny synthetic grid that trains in seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TINY_GRID = [
    "--methods", "ls,pcgrad", "--seeds", "2", "--epochs", "2", "--batch-size", "8", "--no-meteor",
    "--data-opt", "synthetic.n_train=24", "--data-opt", "synthetic.n_val=8", "--data-opt", "synthetic.n_test=8",
]  # fmt: skip


def mtlbench_process(args: list[str], cache: Path, cwd: Path, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, MTLBENCH_CACHE=str(cache), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "mtlbench", *args], cwd=cwd, env=env, **kwargs)


def run_mtlbench(args: list[str], cache: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MTLBENCH_CACHE=str(cache))
    return subprocess.run([sys.executable, "-m", "mtlbench", *args], cwd=cwd, env=env, capture_output=True, text=True)
