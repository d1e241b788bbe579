"""The scripts in benchmarks/ import only what mtlbench has: a name that moved breaks CI, not the next measurement."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _mtlbench_imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, name) of every ``from mtlbench... import name`` in the script, inside functions too."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mtlbench":
            out += [(node.lineno, node.module, alias.name) for alias in node.names]
    return out


@pytest.mark.parametrize("script", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.name)
def test_every_mtlbench_name_a_benchmark_imports_exists(script: Path) -> None:
    missing = []
    for line, module, name in _mtlbench_imports(script):
        imported = importlib.import_module(module)
        if not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")  # a submodule
            except ModuleNotFoundError:
                missing.append(f"{script.name}:{line}: {module} has no {name}")
    assert missing == []


def _gpu_check(tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MTLBENCH_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, str(BENCHMARKS / "gpu_check.py"), *options]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1800)


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA the script measures for real; CPU-only check")
def test_gpu_check_without_cuda_says_so_and_writes_nothing(tmp_path: Path) -> None:
    done = _gpu_check(tmp_path, "--out", str(tmp_path / "gpu.md"))
    assert done.returncode == 0, done.stderr
    assert "no CUDA device here" in done.stdout
    assert not (tmp_path / "gpu.md").exists()


@pytest.mark.slow
def test_gpu_check_runs_every_part_at_toy_size_on_cpu(tmp_path: Path) -> None:
    """The GPU check is run where a device is lent, rarely and with little time: it must work first time."""
    out = tmp_path / "gpu.md"
    done = _gpu_check(tmp_path, "--device", "cpu", "--smoke", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    for row in ("| fp32 |", "| bf16 |", "| 1 | ", "| 2 | "):
        assert row in text, row
    assert "Packed runs computed exactly what a run alone computes (fp32, first 5 losses bit for bit): True" in text
    assert "extrapolated to 3858 studies" in text
