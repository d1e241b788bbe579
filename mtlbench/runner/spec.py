"""RunSpec: the frozen, hashable identity of one run."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from mtlbench.metrics.config import EvalConfig
from mtlbench.train.config import TrainConfig

LATER_TRAIN_DEFAULTS: dict[str, Any] = {"augment": True, "image_decode": "full"}
"""Training settings added after stores of runs existed: left out of the identity at their
default (the behaviour those runs had), so the run ids of earlier stores stay valid."""


@dataclass(frozen=True)
class RunSpec:
    """One cell of a grid: a method on a backbone and dataset with one seed.

    Only semantic settings belong here; paths and executor settings do not, so the same
    run has the same ``run_id`` on a laptop and on a cluster.
    """

    method: str
    dataset: str
    seed: int
    backbone: str = "transformer"
    size: str = "tiny"
    tasks: tuple[str, ...] = ("report", "cls")
    method_params: tuple[tuple[str, Any], ...] = ()
    data_options: tuple[tuple[str, Any], ...] = ()
    """Options of the dataset source (e.g. the synthetic generator's sizes): they change the data."""
    backbone_options: tuple[tuple[str, Any], ...] = ()
    """Backbone options (``mtlbench.backbones.base.BACKBONE_OPTIONS``): extractor, extractor_weights
    (a file name relative to the data root, so run ids do not depend on the machine), beam_size, ..."""
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tuning: tuple[tuple[str, Any], ...] = ()
    """Empty for a plain run; for a tuned one its budget and the trial it is or was chosen from,
    e.g. (("budget", 8), ("trial", 3)): see :mod:`mtlbench.runner.tuning`."""

    @property
    def trained_tasks(self) -> tuple[str, ...]:
        """The tasks the model is built with and trained on: ``tasks``, except for a single-task
        baseline (method ``stl``), which trains its ``task`` alone and keeps ``tasks`` to name the
        cell (the multi-task setting) it is the reference of."""
        if self.method == "stl":
            return (str(dict(self.method_params).get("task", "report")),)
        return self.tasks

    @property
    def monitor(self) -> str:
        """The validation figure that selects the epoch (and a tuning trial): ``train.monitor``, except
        for a model without the report head, which writes no report to score: its validation loss."""
        return self.train.monitor if "report" in self.trained_tasks else "loss"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tasks"] = list(self.tasks)
        out["method_params"] = dict(self.method_params)
        out["data_options"] = dict(self.data_options)
        out["backbone_options"] = dict(self.backbone_options)
        if not self.backbone_options:  # absent when unused, so run ids of earlier stores stay valid
            del out["backbone_options"]
        for key, default in LATER_TRAIN_DEFAULTS.items():  # likewise for training settings added later
            if out["train"][key] == default:
                del out["train"][key]
        out["tuning"] = dict(self.tuning)
        out["eval"]["metrics"] = list(self.eval.metrics)
        if not self.eval.metrics:  # absent when unused, so run ids of earlier stores stay valid
            del out["eval"]["metrics"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        return cls(
            method=data["method"],
            dataset=data["dataset"],
            seed=int(data["seed"]),
            backbone=data.get("backbone", "transformer"),
            size=data.get("size", "tiny"),
            tasks=tuple(data.get("tasks", ("report", "cls"))),
            method_params=freeze_params(data.get("method_params", {})),
            data_options=freeze_params(data.get("data_options", {})),
            backbone_options=freeze_params(data.get("backbone_options", {})),
            train=TrainConfig(**data.get("train", {})),
            eval=EvalConfig(**data.get("eval", {})),
            tuning=freeze_params(data.get("tuning", {})),
        )

    @property
    def run_id(self) -> str:
        """A short hash of the semantic configuration."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """The method's display name, with non-default hyper-parameters (chosen ones if tuned)."""
        if not self.method_params or self.tuning:
            return self.method
        inner = ",".join(f"{k}={v}" for k, v in self.method_params)
        return f"{self.method}({inner})"


def freeze_params(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Hyper-parameters as a sorted tuple of pairs, lists turned into tuples, so specs hash."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))
