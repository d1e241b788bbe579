"""The training loop: MTL steps, model selection on the validation split, generation."""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from mtlbench.backbones.base import Backbone
from mtlbench.data.batch import Batch
from mtlbench.methods.base import Method
from mtlbench.train.config import TrainConfig
from mtlbench.train.engine import MTLEngine, StepRecord


class Diverged(RuntimeError):
    """A task loss became NaN or infinite: the run is recorded as failed with this reason."""


@dataclass
class DiagnosticsSummary:
    """Running means of what the method decided, for the run's metrics."""

    steps: int = 0
    probed: int = 0
    conflicts: int = 0
    sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, record: StepRecord) -> None:
        self.steps += 1
        values: dict[str, float] = {}
        if record.weights is not None:
            values |= {f"weight[{i}]": w for i, w in enumerate(record.weights)}
        values |= {f"cos[{pair}]": c for pair, c in record.cosines.items()}
        values |= {f"grad_norm[{task}]": n for task, n in record.grad_norms.items()}
        if record.update_norm is not None:
            values["update_norm"] = record.update_norm
        for key, value in record.info.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values[f"info.{key}"] = float(value)
        for key, value in values.items():
            self.sums[key] += value
            self.counts[key] += 1
        if record.conflict is not None:
            self.probed += 1
            self.conflicts += int(record.conflict)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"mean_{k}": self.sums[k] / self.counts[k] for k in sorted(self.sums)}
        out["steps"] = self.steps
        if self.probed:
            out["conflict_share"] = self.conflicts / self.probed
            out["probed_steps"] = self.probed
        return out


@dataclass
class FitOutcome:
    best_epoch: int
    best_score: float
    history: list[dict[str, Any]]
    diagnostics: dict[str, Any]


def fit(
    model: Backbone,
    method: Method,
    train_batches: Callable[[int], Iterable[Batch]],
    validate: Callable[[Backbone], dict[str, float]],
    *,
    config: TrainConfig,
    device: torch.device,
    log: Callable[[dict[str, Any]], None],
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> FitOutcome:
    """Train for ``config.epochs`` epochs, keep the weights that score best on validation.

    ``train_batches(epoch)`` yields that epoch's batches; ``validate(model)`` returns
    validation figures including ``config.monitor`` (higher is better, except "loss").
    """
    model.to(device)
    engine = MTLEngine(
        model.shared_parameters(),
        {task: model.task_parameters(task) for task in model.tasks},
        method,
        probe_every=config.probe_every,
    )
    params = [p for p in model.parameters() if p.requires_grad] + list(method.extra_parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    summary = DiagnosticsSummary()
    history: list[dict[str, Any]] = []
    best_score, best_epoch, best_state = -math.inf, -1, None
    step = 0
    for epoch in range(config.epochs):
        model.train()
        epoch_losses: dict[str, float] = defaultdict(float)
        n_batches = 0
        for batch in train_batches(epoch):
            losses = model(batch.to(device))
            _check_finite(losses, epoch, step)
            optimizer.zero_grad(set_to_none=True)
            record = engine.backward(losses)
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            observe = getattr(method, "observe", None)
            if observe is not None:
                observe(torch.tensor(list(record.losses.values()), dtype=torch.float64))
            summary.add(record)
            for task, value in record.losses.items():
                epoch_losses[task] += value
            n_batches += 1
            if config.log_every and step % config.log_every == 0:
                log({"kind": "step", "epoch": epoch, "step": step, **record.as_dict()})
            step += 1
        end_epoch = getattr(method, "end_epoch", None)
        if end_epoch is not None:
            end_epoch()
        model.eval()
        val = validate(model)
        score = -val["loss"] if config.monitor == "loss" else val[config.monitor]
        entry = {
            "kind": "epoch",
            "epoch": epoch,
            "train_loss": {t: v / max(n_batches, 1) for t, v in epoch_losses.items()},
            "val": val,
        }
        history.append(entry)
        log(entry)
        if score > best_score:
            best_score, best_epoch = score, epoch
            best_state = copy.deepcopy(model.state_dict())
        if on_epoch_end is not None:
            on_epoch_end(epoch, entry)
    if best_state is not None:
        model.load_state_dict(best_state)
    return FitOutcome(best_epoch=best_epoch, best_score=best_score, history=history, diagnostics=summary.summary())


def _check_finite(losses: dict[str, torch.Tensor], epoch: int, step: int) -> None:
    for task, value in losses.items():
        if not torch.isfinite(value).all():
            raise Diverged(f"diverged: loss of task {task!r} is {float(value)} at epoch {epoch}, step {step}")


@torch.no_grad()
def generate_reports(model: Backbone, batches: Iterable[Batch], device: torch.device) -> tuple[list[str], list[str]]:
    """(ids, generated texts) for every study of ``batches``."""
    model.eval()
    ids: list[str] = []
    texts: list[str] = []
    for batch in batches:
        ids.extend(batch.ids)
        texts.extend(model.generate(batch.images.to(device)))
    return ids, texts


@torch.no_grad()
def mean_losses(model: Backbone, batches: Iterable[Batch], device: torch.device) -> dict[str, float]:
    """Per-task mean loss over ``batches`` (weighted by batch size), plus their sum as "loss"."""
    model.eval()
    totals: dict[str, float] = defaultdict(float)
    n = 0
    for batch in batches:
        for task, value in model(batch.to(device)).items():
            totals[task] += float(value) * len(batch)
        n += len(batch)
    out = {f"loss_{task}": value / max(n, 1) for task, value in totals.items()}
    out["loss"] = sum(out.values())
    return out
