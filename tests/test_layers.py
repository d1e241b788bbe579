"""Imports point downward (DESIGN.md): a module importing from a higher layer fails this test.

cli -> runner -> train -> (methods, backbones, data, metrics) -> registry -> ground floor
(results, errors, the strict file readers and the shared vocabulary and formulas). stats reads the store: it imports the
ground floor only. methods import nothing from backbones or data, backbones nothing from
methods. Every import statement counts, also those inside functions.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mtlbench"

GROUND = {"__init__", "errors", "results", "chexpert", "formulas", "settings_checks", "textfiles"}
LAYERS: dict[str, int] = {
    **dict.fromkeys(GROUND, 0),
    "registry": 1,
    **dict.fromkeys(("methods", "backbones", "data", "metrics"), 2),
    "train": 3,
    "runner": 4,
    "stats": 4,
    "cli": 5,
    "__main__": 6,
}
"""Each top-level package or module of mtlbench and its layer: a module imports from its layer or below."""

FORBIDDEN = {("methods", "backbones"), ("methods", "data"), ("backbones", "methods")}
ONLY = {"stats": GROUND | {"stats"}}
"""What a package may import at most (stats: the store's files through the ground floor)."""


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level mtlbench package) of every mtlbench import in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: relative import; mtlbench imports are absolute")
        modules: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [
                f"{node.module}.{alias.name}" if node.module == "mtlbench" else node.module for alias in node.names
            ]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        for module in modules:
            parts = module.split(".")
            if parts[0] == "mtlbench":
                out.append((node.lineno, parts[1] if len(parts) > 1 else "__init__"))
    return out


def _violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for line, target in _imports(path):
            target = "__init__" if target == "__version__" else target
            where = f"mtlbench/{path.relative_to(PACKAGE)}:{line}: {source} imports {target}"
            if source not in LAYERS or target not in LAYERS:
                found.append(f"{where}: give {source if source not in LAYERS else target} a layer in {__name__}")
            elif target == source:
                continue
            elif LAYERS[target] > LAYERS[source]:
                found.append(f"{where}, a higher layer")
            elif (source, target) in FORBIDDEN or target not in ONLY.get(source, {target}):
                found.append(f"{where}, which DESIGN.md forbids")
    return found


def test_no_module_imports_from_a_higher_layer() -> None:
    assert _violations() == []


def test_the_check_sees_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule itself: an import upwards and a forbidden sideways import are both reported."""
    fake = tmp_path / "mtlbench"
    for name, text in {
        "metrics/evaluate.py": "from mtlbench.train.config import TrainConfig\n",
        "methods/base.py": "def f():\n    import mtlbench.data.schema\n",
        "stats/features.py": "from mtlbench.data.schema import CHEXPERT_LABELS\n",
        "errors.py": "",
    }.items():
        (fake / name).parent.mkdir(parents=True, exist_ok=True)
        (fake / name).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    found = "\n".join(_violations())
    assert "metrics/evaluate.py:1: metrics imports train, a higher layer" in found
    assert "methods/base.py:2: methods imports data, which DESIGN.md forbids" in found
    assert "stats/features.py:1: stats imports data, which DESIGN.md forbids" in found
