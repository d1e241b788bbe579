"""Turn a run's training-log entries into tracker metrics, and keep a failing tracker from failing the run.

Entries are the lines of ``train_log.jsonl`` as ``run_one`` writes them:

- "step": ``losses``, ``weights``, ``grad_norms`` (per task), ``cosines`` (per task pair),
  ``update_norm``, ``conflict`` and the method's numeric ``info`` -> ``train/loss/<task>``,
  ``train/weight/<task>``, ``train/grad_norm/<task>``, ``train/cos/<a>_vs_<b>``,
  ``train/update_norm``, ``train/conflict`` (0 or 1), ``train/info/<key>[/<i>]``;
- "epoch": ``val`` and ``train_loss`` -> ``val/<figure>``, ``train/epoch_loss/<task>`` and
  ``epoch`` (1-based), at the last step of that epoch;
- "checkpoint": a checkpoint holds every step before ``step``;
- "resume": where a restarted run goes on (its step).

Steps are held back until a checkpoint (mid-epoch or at the epoch's end) holds them and are then
sent together: a run killed between checkpoints redoes the steps after the last one after its
restart, and a tracker must not see those steps twice, nor lose those before it. The steps of
a failing epoch (a divergence) are sent when the run fails. The final test metrics become the
run's summary (``test/<metric>``). A tracker that raises is reported once on stderr and dropped.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from mtlbench.runner.spec import RunSpec
from mtlbench.runner.trackers import TrackerSettings
from mtlbench.runner.trackers.base import RunInfo, Tracker, metric_name

Factory = Callable[[], Tracker]


def _factories() -> dict[str, Factory]:
    from mtlbench.runner.trackers.mlflow_tracker import MlflowTracker
    from mtlbench.runner.trackers.tensorboard_tracker import TensorBoardTracker
    from mtlbench.runner.trackers.wandb_tracker import WandbTracker

    return {"tensorboard": TensorBoardTracker, "mlflow": MlflowTracker, "wandb": WandbTracker}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if value in ("inf", "-inf"):  # how the store writes infinite values
        return float(value)
    return None


def _put(out: dict[str, float], key: str, value: Any) -> None:
    number = _number(value)
    if number is not None:
        out[metric_name(key)] = number


def step_metrics(entry: Mapping[str, Any]) -> dict[str, float]:
    """The tracker metrics of one "step" entry of the training log."""
    out: dict[str, float] = {}
    for field, prefix in (("losses", "loss"), ("weights", "weight"), ("grad_norms", "grad_norm")):
        for task, value in (entry.get(field) or {}).items():
            _put(out, f"train/{prefix}/{task}", value)
    for pair, value in (entry.get("cosines") or {}).items():
        _put(out, "train/cos/" + "_vs_".join(str(pair).split("|")), value)
    _put(out, "train/update_norm", entry.get("update_norm"))
    _put(out, "train/conflict", entry.get("conflict"))
    for key, value in (entry.get("info") or {}).items():
        if isinstance(value, list):
            for i, item in enumerate(value):
                _put(out, f"train/info/{key}/{i}", item)
        else:
            _put(out, f"train/info/{key}", value)
    return out


def epoch_metrics(entry: Mapping[str, Any]) -> dict[str, float]:
    """The tracker metrics of one "epoch" entry of the training log."""
    out: dict[str, float] = {"epoch": float(int(entry.get("epoch", 0)) + 1)}
    for figure, value in (entry.get("val") or {}).items():
        _put(out, f"val/{figure}", value)
    for task, value in (entry.get("train_loss") or {}).items():
        _put(out, f"train/epoch_loss/{task}", value)
    return out


def flat_config(spec: RunSpec) -> dict[str, Any]:
    """The spec as dotted hyper-parameters ("train.lr": 0.001, "method_params.c": 0.4, ...)."""
    out: dict[str, Any] = {"run_id": spec.run_id, "label": spec.label}
    for key, value in spec.to_dict().items():
        if isinstance(value, dict):
            out |= {f"{key}.{k}": v for k, v in value.items()}
        elif isinstance(value, list):
            out[key] = ",".join(map(str, value))
        else:
            out[key] = value
    return out


class TrackerFeed:
    """Feeds one run's log entries to the trackers of ``settings`` (none: does nothing).

    ``factories`` maps tracker names to constructors (tests may pass their own).
    """

    def __init__(
        self,
        settings: TrackerSettings | None,
        spec: RunSpec,
        *,
        factories: Mapping[str, Factory] | None = None,
    ) -> None:
        self.settings = settings
        self.spec = spec
        kinds = settings.kinds if settings else ()
        made = factories or (_factories() if kinds else {})
        self.trackers: dict[str, Tracker] = {kind: made[kind]() for kind in kinds}
        self.started = False
        self.pending: list[tuple[int, dict[str, float]]] = []
        self.next_step = 0

    def __call__(self, entry: Mapping[str, Any]) -> None:
        """Take one training-log entry (the hook ``run_one`` calls after writing it)."""
        if not self.trackers:
            return
        kind = entry.get("kind")
        if not self.started:
            self._start(int(entry.get("step", 0)) if kind == "resume" else None)
        if kind == "resume":
            self.pending.clear()
            self.next_step = int(entry.get("step", 0))
        elif kind == "step":
            step = int(entry.get("step", self.next_step))
            self.pending.append((step, step_metrics(entry)))
            self.next_step = step + 1
        elif kind == "checkpoint":
            self._flush()
        elif kind == "epoch":
            self._flush()
            self._each("log", epoch_metrics(entry), max(self.next_step - 1, 0))

    def done(self, metrics: Mapping[str, Any]) -> None:
        """The run finished: its test metrics become the trackers' summary."""
        summary: dict[str, float] = {}
        for key, value in (metrics.get("test") or {}).items():
            _put(summary, f"test/{key}", value)
        _put(summary, "best_epoch", (metrics.get("best_epoch") or 0) + 1)
        self._close("done", summary)

    def failed(self) -> None:
        """The run failed: what it logged up to the failure is sent (a divergence shows)."""
        self._close("failed", {})

    def _close(self, state: str, summary: dict[str, float]) -> None:
        if not self.trackers:
            return
        if not self.started:
            self._start(None)
        self._flush()
        self._each("finish", state, summary)
        self.trackers.clear()

    def _start(self, resume_step: int | None) -> None:
        self.started = True
        assert self.settings is not None
        spec = self.spec
        run = RunInfo(
            run_id=spec.run_id,
            group=self.settings.group,
            directory=self.settings.directory,
            config=flat_config(spec),
            tags={"method": spec.label, "dataset": spec.dataset, "backbone": spec.backbone, "seed": str(spec.seed)},
        )
        self._each("start", run, resume_step)

    def _flush(self) -> None:
        for step, values in self.pending:
            if values:
                self._each("log", values, step)
        self.pending.clear()

    def _each(self, method: str, *args: Any) -> None:
        for kind, tracker in list(self.trackers.items()):
            try:
                getattr(tracker, method)(*args)
            except Exception as err:  # a tracker must never fail the run it watches
                print(
                    f"warning: run {self.spec.run_id}: {kind} stopped logging ({type(err).__name__}: {err})",
                    file=sys.stderr,
                )
                del self.trackers[kind]
