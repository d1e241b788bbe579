"""Executors run the runs a grid still needs; training code never knows which one ran it."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import torch

from mtlbench.runner.run_one import run_one
from mtlbench.runner.spec import RunSpec


@dataclass(frozen=True)
class Outcome:
    spec: RunSpec
    state: str
    seconds: float


Progress = Callable[[Outcome], None]


def _run(spec_dict: dict, results: str, data_root: str | None, device: str | None, threads: int) -> tuple[str, float]:
    torch.set_num_threads(threads)
    started = time.perf_counter()
    state = run_one(RunSpec.from_dict(spec_dict), Path(results), data_root=Path(data_root) if data_root else None,
                    device=device)
    return state, time.perf_counter() - started


def run_local(
    specs: Sequence[RunSpec],
    results: Path,
    *,
    workers: int = 1,
    data_root: Path | None = None,
    device: str | None = None,
    progress: Progress | None = None,
) -> list[Outcome]:
    """Run ``specs`` in this process (workers = 1) or a spawn-based process pool.

    Each worker gets cores // workers torch threads, so N workers do not oversubscribe.
    """
    threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    root = str(results)
    data = str(data_root) if data_root else None
    outcomes: list[Outcome] = []

    def record(spec: RunSpec, state: str, seconds: float) -> None:
        outcome = Outcome(spec, state, seconds)
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)

    if workers <= 1:
        previous = torch.get_num_threads()
        try:
            for spec in specs:
                record(spec, *_run(spec.to_dict(), root, data, device, threads))
        finally:
            torch.set_num_threads(previous)
        return outcomes
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_run, spec.to_dict(), root, data, device, threads): spec for spec in specs}
        for future in as_completed(futures):
            record(futures[future], *future.result())
    return outcomes
