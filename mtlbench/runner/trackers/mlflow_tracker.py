"""MLflow: one MLflow run per mtlbench run, named by its run id, in the experiment named by the grid.

The store is ``MLFLOW_TRACKING_URI`` when set (a server, a database), else MLflow's file store at
DIRECTORY/mlruns: many workers and Slurm jobs write to it at once, each to its own run's files,
which a file store takes and SQLite does not. MLflow 3 keeps that store behind an opt-in
(``MLFLOW_ALLOW_FILE_STORE``), set here for this process only when that store is the one used.
A fresh attempt deletes the MLflow run an earlier attempt left; a restart continues it, skipping
the steps it had already sent (MLflow's history keeps every value it is given, duplicates too).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from mtlbench.runner.trackers.base import RunInfo, Tracker

RUN_TAG = "mtlbench.run_id"
BATCH = 1000
"""MLflow's limit of metrics per log_batch call."""


def tracking_uri(directory: str) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or (Path(directory) / "mlruns").resolve().as_uri()


class MlflowTracker(Tracker):
    def start(self, run: RunInfo, resume_step: int | None) -> None:
        from mlflow import MlflowClient
        from mlflow.entities import Param, RunStatus

        uri = tracking_uri(run.directory)
        if uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        experiment = self._experiment(run.group)
        earlier = self.client.search_runs([experiment], filter_string=f"tags.`{RUN_TAG}` = '{run.run_id}'")
        self.sent_up_to, self.last_step = -1, 0
        if resume_step is not None and earlier:
            self.run_id = earlier[0].info.run_id
            self.client.update_run(self.run_id, status=RunStatus.to_string(RunStatus.RUNNING))
            epochs = self.client.get_metric_history(self.run_id, "epoch")  # logged as each epoch's steps are sent
            self.sent_up_to = max((m.step for m in epochs), default=-1)
            return
        for old in earlier:
            self.client.delete_run(old.info.run_id)
        tags = {RUN_TAG: run.run_id, "mtlbench.grid": run.group, **run.tags}
        self.run_id = self.client.create_run(experiment, run_name=run.run_id, tags=tags).info.run_id
        params = [Param(k, str(v)[:6000]) for k, v in sorted(run.config.items())]
        for first in range(0, len(params), 100):
            self.client.log_batch(self.run_id, params=params[first : first + 100])

    def _experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except MlflowException:  # another worker created it in between
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def log(self, values: Mapping[str, float], step: int) -> None:
        if step <= self.sent_up_to:
            return
        self._send(values, step)

    def _send(self, values: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        self.last_step = step
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items()]
        for first in range(0, len(metrics), BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[first : first + BATCH])

    def finish(self, state: str, summary: Mapping[str, float]) -> None:
        if summary:
            self._send(summary, max(self.last_step, self.sent_up_to, 0))
        self.client.set_terminated(self.run_id, status="FINISHED" if state == "done" else "FAILED")
