"""Checkpoint files: when to write them, and how, so that a kill or a bad disk never costs a run.

A run keeps its last two checkpoints (``checkpoint.pt``, the latest, and ``checkpoint.prev.pt``).
Each file is one header line ``MTLBENCH-CHECKPOINT 1 <sha256 of the payload> <payload bytes>``
followed by the ``torch.save`` payload; it is written whole to a temporary name, fsync'd, and
renamed into place (the latest first moving to the previous name). A reader checks the header
and the digest, so a truncated or damaged latest checkpoint is found before it is loaded, and
the previous one is used instead, with a line saying so.

The payload is serialised in memory to compute its digest: a checkpoint briefly needs twice its
size in memory (the model, optimiser and method state of one run).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mtlbench.errors import MtlbenchError
from mtlbench.results import write_file_atomically

MAGIC = b"MTLBENCH-CHECKPOINT 1 "


@dataclass(frozen=True)
class CheckpointSettings:
    """How often a run saves its state inside an epoch (it always does at the end of each epoch).

    ``every_steps``: every this many optimiser steps (0: not by steps); ``every_minutes``: when
    this many minutes have passed since the last checkpoint (0: not by time). The defaults suit
    both ends: a paper-size run (MIMIC-CXR epochs of hours) loses at most 15 minutes to a kill or
    a pre-emption, while the tiny default grid, whose epochs take seconds, writes only its
    per-epoch checkpoints. Not part of a run's identity: they change what a kill costs, never
    the numbers (a resumed run continues at the same batch with the same random streams).
    """

    every_steps: int = 0
    every_minutes: float = 15.0

    def __post_init__(self) -> None:
        if isinstance(self.every_steps, bool) or not isinstance(self.every_steps, int) or self.every_steps < 0:
            raise MtlbenchError(f"--checkpoint-steps must be an integer of at least 0; got {self.every_steps!r}")
        minutes = self.every_minutes
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not minutes >= 0:
            raise MtlbenchError(f"--checkpoint-minutes must be a number of at least 0; got {minutes!r}")

    def due(self, steps_since: int, seconds_since: float) -> bool:
        """Whether a mid-epoch checkpoint is due, ``steps_since`` steps and ``seconds_since`` seconds after the last."""
        by_steps = self.every_steps > 0 and steps_since >= self.every_steps
        by_time = self.every_minutes > 0 and seconds_since >= 60.0 * self.every_minutes
        return by_steps or by_time


DEFAULT_CHECKPOINTS = CheckpointSettings()


class DamagedCheckpoint(ValueError):
    """A checkpoint file whose header or digest does not match its content."""


def previous_of(latest: Path) -> Path:
    """Where the checkpoint before ``latest`` is kept: ``checkpoint.pt`` -> ``checkpoint.prev.pt``."""
    return latest.with_name(f"{latest.stem}.prev{latest.suffix}")


def save_checkpoint(latest: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as the latest checkpoint; the one it replaces becomes the previous one."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    header = MAGIC + f"{hashlib.sha256(data).hexdigest()} {len(data)}\n".encode()

    def rotate() -> None:  # after the new file is whole on disk, before it takes the latest name
        if latest.is_file():
            os.replace(latest, previous_of(latest))

    write_file_atomically(latest, [header, data], before_rename=rotate)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The payload of one checkpoint file; :class:`DamagedCheckpoint` if it is truncated or altered."""
    raw = Path(path).read_bytes()
    end = raw.find(b"\n")
    if not raw.startswith(MAGIC) or end < 0:
        raise DamagedCheckpoint("it has no mtlbench checkpoint header")
    try:
        digest, size = raw[len(MAGIC) : end].decode().split(" ")
        expected_size = int(size)
    except ValueError:
        raise DamagedCheckpoint("its header is damaged") from None
    data = raw[end + 1 :]
    if len(data) != expected_size:
        raise DamagedCheckpoint(f"it holds {len(data)} bytes where its header says {expected_size} (truncated)")
    if hashlib.sha256(data).hexdigest() != digest:
        raise DamagedCheckpoint("its checksum does not match its content")
    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    if not isinstance(payload, dict):
        raise DamagedCheckpoint("it does not hold a checkpoint")
    return payload


def load_latest_checkpoint(latest: Path, say: Callable[[str], None]) -> dict[str, Any] | None:
    """The newest of ``latest`` and the one before it that reads back whole; None if there is none.

    Each damaged one is skipped with a line (through ``say``) naming it and why.
    """
    for path in (latest, previous_of(latest)):
        if not path.is_file():
            continue
        try:
            return read_checkpoint(path)
        except (DamagedCheckpoint, OSError, RuntimeError, EOFError) as err:  # torch.load: RuntimeError, EOFError
            say(f"checkpoint {path} is damaged ({err}): skipped, resuming from the one before it if any")
    return None
