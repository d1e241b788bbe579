"""What every benchmark record states: the machine, its load, and the text written to --out."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import torch


def load_average() -> str:
    """The 1/5/15-minute load averages: a shared machine's timings are only as good as its quietness."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )


def publish(lines: list[str], out: Path | None) -> None:
    """Print the record and write it to ``out`` (Markdown) when given."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        out.write_text(text)
