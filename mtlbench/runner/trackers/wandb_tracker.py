"""Weights & Biases: one W&B run per mtlbench run (id and name: the run id), grouped by grid.

Offline by default (``WANDB_MODE`` overrides it): runs are written under DIRECTORY/wandb and need
no account; ``wandb sync DIRECTORY/wandb/offline-run-*`` uploads them later. A fresh attempt
removes the offline folders an earlier attempt of the same run left; a restart adds its own
folder that continues the run's steps (W&B merges them on sync, ``resume="allow"``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from mtlbench.runner.trackers.base import RunInfo, Tracker


class WandbTracker(Tracker):
    def start(self, run: RunInfo, resume_step: int | None) -> None:
        import wandb

        root = Path(run.directory)
        root.mkdir(parents=True, exist_ok=True)
        mode = os.environ.get("WANDB_MODE", "offline")
        if resume_step is None:
            for old in (root / "wandb").glob(f"offline-run-*-{run.run_id}"):
                shutil.rmtree(old, ignore_errors=True)
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "mtlbench"),
            group=run.group,
            name=run.run_id,
            id=run.run_id,
            dir=str(root),
            mode=mode,
            config=dict(run.config),
            tags=[f"{k}={v}" for k, v in run.tags.items()][:20],
            resume="allow",
            settings=wandb.Settings(console="off", silent=True, save_code=False, x_disable_stats=True),
        )

    def log(self, values: Mapping[str, float], step: int) -> None:
        self.run.log(dict(values), step=step)

    def finish(self, state: str, summary: Mapping[str, float]) -> None:
        self.run.summary.update(dict(summary) | {"state": state})
        self.run.finish(exit_code=0 if state == "done" else 1)
