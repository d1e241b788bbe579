"""A job for the pool tests: trains nothing; one spec's worker dies the way the OOM killer ends it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from mtlbench.runner.executors.base import Job
from mtlbench.runner.store import ResultStore


@dataclass(frozen=True)
class CrashingJob(Job):
    crash_seed: int = -1

    def __call__(self) -> tuple[str, float]:
        spec = self.run_spec
        store = ResultStore(Path(self.results))
        store.begin(spec, {})
        if spec.seed == self.crash_seed:
            time.sleep(0.5)  # the other worker is busy with its own run meanwhile
            os._exit(9)
        store.finish(spec, {"test": {"seed": spec.seed}}, [])
        return "done", 0.0
