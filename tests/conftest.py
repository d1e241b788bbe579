"""Shared test fixtures: the shared reference data (when present) and an isolated cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_iu() -> Path:
    """The real IU X-Ray reports beside the repository, or skip."""
    folder = SHARED / "data" / "iu_xray"
    if not (folder / "annotation.json").is_file():
        pytest.skip(f"shared IU X-Ray data not found at {folder}")
    return folder


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Synthetic data and label caches go to one per-session temporary folder, never to ~/.cache."""
    monkeypatch.setenv("MTLBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "mtlbench-cache"))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread (``pytestmark = pytest.mark.usefixtures("one_thread")``): two threads on two
    shared cores thrash, one is several times faster here, and a run's numbers depend on it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
