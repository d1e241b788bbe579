"""Fixtures of the stats tests: a fabricated result store."""

from __future__ import annotations

from pathlib import Path

import pytest
from storefakes import fill_store, write_run

from mtlbench.runner.spec import RunSpec


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """ls and pcgrad (3 seeds each, pcgrad clearly better), a weak method, and a failed run."""
    root = fill_store(tmp_path / "store", {"ls": 0.5, "pcgrad": 0.7, "mgda": 0.45})
    write_run(
        root, RunSpec(method="mgda", dataset="synthetic", seed=3), [], state="failed", reason="diverged: loss nan"
    )
    return root
