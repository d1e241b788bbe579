"""Experiment trackers (TensorBoard, MLflow, Weights & Biases) fed from a run's training log.

Training code knows nothing of them: ``run_one`` hands every entry it writes to
``train_log.jsonl`` to a :class:`~mtlbench.runner.trackers.feed.TrackerFeed`, which turns it
into tracker metrics. Each tracker is an optional extra; which ones a grid logs to, and where,
is a :class:`TrackerSettings`, never part of a run's identity.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from mtlbench.errors import MtlbenchError

TRACKERS: dict[str, tuple[str, str]] = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "mlflow": ("mlflow", "mlflow"),
    "wandb": ("wandb", "wandb"),
}
"""Tracker name -> (module it needs, the mtlbench extra that installs it)."""


class MissingTracker(MtlbenchError):
    """A tracker's optional extra is not installed."""


@dataclass(frozen=True)
class TrackerSettings:
    """Where a grid's runs are logged: ``kinds`` (names of TRACKERS), ``directory`` (TensorBoard
    event files, the MLflow file store and W&B's offline runs go under it) and ``group`` (the grid:
    the TensorBoard folder, the MLflow experiment and the W&B group)."""

    kinds: tuple[str, ...] = ()
    directory: str = "trackers"
    group: str = "grid"

    def __bool__(self) -> bool:
        return bool(self.kinds)


def parse_trackers(text: str) -> tuple[str, ...]:
    """``--log-to`` as a tuple of tracker names, each checked."""
    kinds = tuple(dict.fromkeys(k.strip().lower() for k in text.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in TRACKERS]
    if unknown:
        raise MtlbenchError(f"--log-to: unknown tracker {', '.join(unknown)}; choose among {', '.join(TRACKERS)}")
    return kinds


def check_installed(kinds: tuple[str, ...]) -> None:
    """Import each tracker's package now, so that a missing extra stops the grid before any run, in one line."""
    for kind in kinds:
        module, extra = TRACKERS[kind]
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise MissingTracker(f'--log-to {kind} needs its extra: pip install "mtlbench[{extra}]" ({err})') from err
