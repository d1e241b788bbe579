"""The training loop: MTL steps, model selection on the validation split, generation."""

from __future__ import annotations

import copy
import math
import os
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
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


@dataclass
class _Progress:
    """Everything that changes across epochs: what a checkpoint must hold to resume exactly."""

    next_epoch: int = 0
    step: int = 0
    best_score: float = -math.inf
    best_epoch: int = -1
    best_state: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: DiagnosticsSummary = field(default_factory=DiagnosticsSummary)


def fit(
    model: Backbone,
    method: Method,
    train_batches: Callable[[int], Iterable[Batch]],
    validate: Callable[[Backbone], dict[str, float]],
    *,
    config: TrainConfig,
    device: torch.device,
    log: Callable[[dict[str, Any]], None],
    checkpoint: Path | None = None,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> FitOutcome:
    """Train for ``config.epochs`` epochs, keep the weights that score best on validation.

    ``train_batches(epoch)`` yields that epoch's batches (its order must depend only on the
    epoch); ``validate(model)`` returns validation figures including ``config.monitor``
    (higher is better, except "loss"). With ``checkpoint``, the state is saved after every
    epoch and a later call resumes from it, giving the same result as an uninterrupted fit.
    """
    model.to(device)
    engine = MTLEngine(
        model.shared_parameters(),
        {task: model.task_parameters(task) for task in model.tasks},
        method,
        probe_every=config.probe_every,
    )
    saved = None
    if checkpoint is not None and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if saved is not None:
        method.__dict__.update(saved["method"])  # before the optimiser: it holds the method's own parameters
    params = [p for p in model.parameters() if p.requires_grad] + list(method.extra_parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    state = _restore(saved, model, optimizer) if saved is not None else _Progress()
    if saved is not None:
        # log lines of the interrupted epoch, if any, are superseded by what follows this marker
        log({"kind": "resume", "epoch": state.next_epoch, "step": state.step})
    observe = getattr(method, "observe", None)
    end_epoch = getattr(method, "end_epoch", None)
    for epoch in range(state.next_epoch, config.epochs):
        model.train()
        epoch_losses: dict[str, float] = defaultdict(float)
        n_batches = 0
        for batch in train_batches(epoch):
            losses = model(batch.to(device))
            _check_finite(losses, epoch, state.step)
            optimizer.zero_grad(set_to_none=True)
            record = engine.backward(losses)
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            if observe is not None:
                observe(torch.tensor(list(record.losses.values()), dtype=torch.float64))
            state.summary.add(record)
            for task, value in record.losses.items():
                epoch_losses[task] += value
            n_batches += 1
            if config.log_every and state.step % config.log_every == 0:
                log({"kind": "step", "epoch": epoch, "step": state.step, **record.as_dict()})
            state.step += 1
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
        state.history.append(entry)
        log(entry)
        if score > state.best_score:
            state.best_score, state.best_epoch = score, epoch
            state.best_state = copy.deepcopy(model.state_dict())
        state.next_epoch = epoch + 1
        if checkpoint is not None:
            _save(checkpoint, state, model, optimizer, method)
        if on_epoch_end is not None:
            on_epoch_end(epoch, entry)
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    return FitOutcome(
        best_epoch=state.best_epoch,
        best_score=state.best_score,
        history=state.history,
        diagnostics=state.summary.summary(),
    )


def _save(path: Path, state: _Progress, model: nn.Module, optimizer: torch.optim.Optimizer, method: Method) -> None:
    """Write the checkpoint to a temporary file and rename it, so a kill never leaves half a file."""
    payload = {
        "progress": state,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "method": method.__dict__,
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _restore(payload: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer) -> _Progress:
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["rng"]["torch"])
    np.random.set_state(payload["rng"]["numpy"])
    random.setstate(payload["rng"]["python"])
    return payload["progress"]


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
