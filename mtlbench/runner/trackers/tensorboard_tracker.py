"""TensorBoard: event files under DIRECTORY/tensorboard/GROUP/RUN_ID, hyper-parameters for the HParams tab.

A fresh attempt purges what an earlier one wrote there; a restart from the checkpoint purges the
events from its resume step on (``purge_step``), so the curves show each step once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtlbench.runner.trackers.base import RunInfo, Tracker


def _hparam(value: Any) -> Any:
    """HParams takes numbers, strings and booleans only."""
    return value if isinstance(value, bool | int | float | str) else str(value)


class TensorBoardTracker(Tracker):
    def start(self, run: RunInfo, resume_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        self.folder = Path(run.directory) / "tensorboard" / run.group / run.run_id
        self.writer = SummaryWriter(str(self.folder), purge_step=resume_step or 0)
        self.config = {k: _hparam(v) for k, v in run.config.items()}
        _, session_start, _ = hparams(self.config, {})
        if resume_step is None:
            self.writer.file_writer.add_summary(session_start)
            self.writer.add_text("config", "\n".join(f"    {k} = {v}" for k, v in sorted(run.config.items())))
        self.last_step = resume_step or 0

    def log(self, values: Mapping[str, float], step: int) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)
        self.last_step = max(self.last_step, step)

    def finish(self, state: str, summary: Mapping[str, float]) -> None:
        from torch.utils.tensorboard.summary import hparams

        for key, value in summary.items():
            self.writer.add_scalar(key, value, self.last_step)
        experiment, _, session_end = hparams(self.config, dict(summary))
        self.writer.file_writer.add_summary(experiment)
        self.writer.file_writer.add_summary(session_end)
        self.writer.add_text("state", state)
        self.writer.close()
