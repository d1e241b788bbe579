"""Where mtlbench keeps what it can regenerate: the synthetic set and labeler outputs."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "MTLBENCH_CACHE"


def cache_root() -> Path:
    """``$MTLBENCH_CACHE`` or ``~/.cache/mtlbench``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "mtlbench").expanduser()


def label_cache_dir() -> Path:
    """Labeler outputs on reference reports, keyed by the labeler's version and the reports."""
    return cache_root() / "labels"
