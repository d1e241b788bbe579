"""Disk faults for the store: writes that fail as on a full, failing or read-only disk, and the
checks that a store left by them holds nothing half-written that reads as done.

Injected at the store's write layer (``mtlbench.results._write``, through which every file of a
run folder passes except the append-only training log); ``benchmarks/reliability_faults.py``
also fills a real, small tmpfs.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any, BinaryIO

from mtlbench.metrics.config import EvalConfig
from mtlbench.results import iter_runs, read_examples, read_metrics, read_status
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig

DATA = (("n_test", 8), ("n_train", 16), ("n_val", 8))
SPECS = [  # the grid the disk-fault tests and benchmark disturb: 2 short runs, one with a random stream
    RunSpec(
        method=method,
        dataset="synthetic",
        seed=0,
        data_options=DATA,
        train=TrainConfig(epochs=2, batch_size=8, image_size=32, monitor="loss"),
        eval=EvalConfig(meteor=False),
    )
    for method in ("ls", "rlw")
]


class DiskFault:
    """Counts store writes; from the ``at``-th on they fail with ``code`` (``persistent``: a full
    disk stays full) or only that one fails (a transient I/O error). ``at=0``: never."""

    def __init__(self, at: int = 0, code: int = errno.ENOSPC, *, persistent: bool = True) -> None:
        self.at = at
        self.code = code
        self.persistent = persistent
        self.count = 0
        self.largest = 0
        """The largest chunk written (a checkpoint): what sizing a small filesystem needs to know."""

    def __call__(self, handle: BinaryIO, chunk: bytes) -> None:
        self.count += 1
        self.largest = max(self.largest, len(chunk))
        if self.at and (self.count == self.at or (self.persistent and self.count > self.at)):
            raise OSError(self.code, os.strerror(self.code))
        handle.write(chunk)


def check_store(results: Path, expected: dict[str, Any], n_examples: int) -> set[str]:
    """The runs that read as done; asserts that each has whole files equal to ``expected``
    (run_id -> test metrics), that every JSON file of the store reads, and no temporary is left."""
    done = set()
    for run in iter_runs(results):
        for path in run.path.iterdir():
            assert not path.name.endswith(".tmp"), path  # a failed write leaves no temporary behind
            if path.suffix == ".json":
                json.loads(path.read_text())  # every earlier file intact
        if read_status(run.path)["state"] == "done":
            assert read_metrics(run.path)["test"] == expected[run.run_id], run.run_id
            assert len(read_examples(run.path)) == n_examples
            done.add(run.run_id)
    return done
