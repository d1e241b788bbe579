"""The one small interface every executor fulfils; training code never knows which one ran it."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from mtlbench.runner.run_one import run_one
from mtlbench.runner.spec import RunSpec


@dataclass(frozen=True)
class Outcome:
    """How one run ended, as the executor saw it."""

    spec: RunSpec
    state: str
    seconds: float


Progress = Callable[[Outcome], None]


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to run one spec: plain data, so it pickles to any executor."""

    spec: dict
    results: str
    data_root: str | None
    device: str | None
    threads: int
    epoch_lines: bool = True
    """Print one line per finished epoch (per-run progress; plain text, so it works from any worker)."""

    def __call__(self) -> tuple[str, float]:
        """Run the spec; returns (state, seconds). Failures are recorded in the store, not raised."""
        torch.set_num_threads(self.threads)
        started = time.perf_counter()
        spec = RunSpec.from_dict(self.spec)
        state = run_one(
            spec,
            Path(self.results),
            data_root=Path(self.data_root) if self.data_root else None,
            device=self.device,
            on_epoch_end=_epoch_printer(spec) if self.epoch_lines else None,
        )
        return state, time.perf_counter() - started


def _epoch_printer(spec: RunSpec) -> Callable[[int, dict], None]:
    def report(epoch: int, entry: dict) -> None:
        val = entry.get("val", {})
        figure = spec.train.monitor if spec.train.monitor in val else "loss"
        print(
            f"  {spec.label} seed={spec.seed} epoch {epoch + 1}/{spec.train.epochs}: "
            f"val {figure} {val.get(figure, float('nan')):.4f}",
            flush=True,
        )

    return report


class Executor(ABC):
    """Runs jobs somewhere and reports each outcome as it arrives."""

    @abstractmethod
    def run(
        self, specs: Sequence[RunSpec], make_job: Callable[[RunSpec, int], Job], progress: Progress | None = None
    ) -> list[Outcome]:
        """Run every spec (``make_job(spec, threads)`` builds its job) and return the outcomes."""
