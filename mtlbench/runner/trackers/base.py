"""The small interface a tracker fulfils; the feed calls nothing else."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ :]")


def metric_name(name: str) -> str:
    """A metric key every tracker accepts (MLflow's rule, the strictest: letters, digits, _ - . / space :)."""
    return _UNSAFE.sub("_", name)


@dataclass(frozen=True)
class RunInfo:
    """What names a tracker run: one per mtlbench run, named by its run id, grouped by grid."""

    run_id: str
    group: str
    directory: str
    config: Mapping[str, Any]
    """The run's flattened spec ("train.lr": 0.001, ...): the hyper-parameters."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Short labels to find the run by (method, dataset, backbone, seed)."""


class Tracker(ABC):
    """One tracker run. ``start`` is told the step a restarted run resumes at (None: a fresh start,
    whose earlier record, if any, is replaced)."""

    @abstractmethod
    def start(self, run: RunInfo, resume_step: int | None) -> None: ...

    @abstractmethod
    def log(self, values: Mapping[str, float], step: int) -> None:
        """Scalars at one global training step."""

    @abstractmethod
    def finish(self, state: str, summary: Mapping[str, float]) -> None:
        """End the run as "done" or "failed"; ``summary`` holds the final test metrics (empty if none)."""
