"""The scripts in benchmarks/ import only what mtlbench has: a name that moved breaks CI, not the next measurement."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

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
