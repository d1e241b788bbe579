"""The training loop: MTL steps, model selection on the validation split, generation."""

from __future__ import annotations

import copy
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtlbench.backbones.base import Backbone
from mtlbench.data.batch import Batch
from mtlbench.data.torch_data import batches_from
from mtlbench.methods.base import Method
from mtlbench.train.checkpoint import DEFAULT_CHECKPOINTS, CheckpointSettings, load_latest_checkpoint, save_checkpoint
from mtlbench.train.config import TrainConfig
from mtlbench.train.engine import StepRecord
from mtlbench.train.step import Trainer


@dataclass
class DiagnosticsSummary:
    """Running means of what the method decided, for the run's metrics (``metrics.json``).

    Keys: ``mean_weight[task]``, ``mean_cos[a|b]``, ``mean_grad_norm[task]``, ``mean_update_norm``,
    ``mean_info.<key>`` for every number (or list of numbers, ``<key>[i]``) a method reports
    (CAME-Grad's per-stage quantities, solver iterations, ``fallback`` = share of steps that fell
    back), and ``conflict_share`` (overall and per pair): the share of measured steps whose task
    gradients had a negative cosine. ``probed_steps`` counts the steps where gradients were measured.
    """

    steps: int = 0
    probed: int = 0
    conflicts: int = 0
    pair_conflicts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, record: StepRecord) -> None:
        self.steps += 1
        values: dict[str, float] = {}
        if record.weights is not None:
            values |= {f"weight[{task}]": w for task, w in record.weights.items()}
        values |= {f"cos[{pair}]": c for pair, c in record.cosines.items()}
        values |= {f"grad_norm[{task}]": n for task, n in record.grad_norms.items()}
        if record.update_norm is not None:
            values["update_norm"] = record.update_norm
        for key, value in record.info.items():
            if isinstance(value, int | float):  # bools too: their mean is the share of steps
                values[f"info.{key}"] = float(value)
            elif isinstance(value, list) and all(isinstance(v, int | float) for v in value):
                values |= {f"info.{key}[{i}]": float(v) for i, v in enumerate(value)}
        for key, value in values.items():
            if math.isfinite(value):
                self.sums[key] += value
                self.counts[key] += 1
        if record.conflict is not None:
            self.probed += 1
            self.conflicts += int(record.conflict)
            for pair, cosine in record.cosines.items():
                self.pair_conflicts[pair] += int(cosine < 0)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"mean_{k}": self.sums[k] / self.counts[k] for k in sorted(self.sums)}
        out["steps"] = self.steps
        if self.probed:
            out["conflict_share"] = self.conflicts / self.probed
            out |= {f"conflict_share[{pair}]": n / self.probed for pair, n in sorted(self.pair_conflicts.items())}
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
    """Everything that changes during training: what a checkpoint must hold to resume exactly.

    ``next_epoch`` is the epoch in progress (or the next to start) and ``batch`` the number of
    its batches already trained; ``epoch_losses``/``n_batches`` are that epoch's running sums.
    """

    next_epoch: int = 0
    step: int = 0
    best_score: float = -math.inf
    best_epoch: int = -1
    best_state: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: DiagnosticsSummary = field(default_factory=DiagnosticsSummary)
    batch: int = 0
    epoch_losses: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    loader_rng: torch.Tensor | None = None
    """The train loader's generator as the epoch in progress began (before its iterator drew from it)."""


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
    checkpoints: CheckpointSettings = DEFAULT_CHECKPOINTS,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    seed: int = 0,
    guard: Callable[[], None] | None = None,
) -> FitOutcome:
    """Train for ``config.epochs`` epochs, keep the weights that score best on validation.

    ``train_batches(epoch)`` yields that epoch's batches (its order must depend only on the
    epoch); ``validate(model)`` returns validation figures including ``config.monitor``
    (higher is better, except "loss"). ``seed`` is the run's seed: the method's random stream
    is derived from it.

    With ``checkpoint`` (the latest checkpoint's path), the state is saved after every epoch and
    inside epochs as ``checkpoints`` says, and a later call resumes from the newest readable
    checkpoint at the very batch it had reached, giving the same result as an uninterrupted fit:
    the checkpoint holds the position in the epoch, the model, optimiser, scaler, engine and
    method state, and every random stream (torch CPU and CUDA, numpy, python, the train
    loader's generator). ``guard()`` runs before every step and every checkpoint; it raises to
    stop the fit (a run whose lease passed to another process).
    """
    saved = None
    if checkpoint is not None:
        saved = load_latest_checkpoint(checkpoint, lambda line: log({"kind": "checkpoint_skipped", "message": line}))
        if saved is not None and ("method_state" not in saved or "engine" not in saved):  # an older mtlbench's
            saved = None
            log({"kind": "resume", "epoch": 0, "step": 0, "reason": "a checkpoint of an older mtlbench: started over"})
    method_state = saved["method_state"] if saved is not None else None
    trainer = Trainer(model, method, config, device, seed=seed, method_state=method_state)
    state = _restore(saved, trainer) if saved is not None else _Progress()
    if saved is not None:
        # log lines from this step on, if any, are superseded by what follows this marker
        log({"kind": "resume", "epoch": state.next_epoch, "step": state.step, "batch": state.batch})
    last_saved = (state.step, time.monotonic())

    def save() -> None:
        nonlocal last_saved
        if guard is not None:
            guard()
        if checkpoint is not None:
            _save(checkpoint, state, trainer)
            log({"kind": "checkpoint", "step": state.step})  # steps before it are never redone
        last_saved = (state.step, time.monotonic())

    for epoch in range(state.next_epoch, config.epochs):
        trainer.start_epoch(epoch)
        batches = train_batches(epoch)
        loader_generator = getattr(batches, "generator", None)
        if isinstance(loader_generator, torch.Generator):
            if state.loader_rng is not None:
                loader_generator.set_state(state.loader_rng)
            state.loader_rng = loader_generator.get_state()
        for batch in batches_from(batches, state.batch):
            if guard is not None:
                guard()
            record = trainer.step(batch, where=f" at epoch {epoch}, step {state.step}")
            state.summary.add(record)
            for task, value in record.losses.items():
                state.epoch_losses[task] += value
            if config.log_every and state.step % config.log_every == 0:
                log({"kind": "step", "epoch": epoch, "step": state.step, **record.as_dict()})
            state.step += 1
            state.batch += 1
            if checkpoints.due(state.step - last_saved[0], time.monotonic() - last_saved[1]):
                save()
        train_loss = {t: v / max(state.batch, 1) for t, v in state.epoch_losses.items()}
        trainer.end_epoch(train_loss)
        model.eval()
        val = validate(model)
        score = -val["loss"] if config.monitor == "loss" else val[config.monitor]
        entry = {"kind": "epoch", "epoch": epoch, "train_loss": train_loss, "val": val}
        state.history.append(entry)
        log(entry)
        if score > state.best_score:
            state.best_score, state.best_epoch = score, epoch
            state.best_state = copy.deepcopy(model.state_dict())
        state.next_epoch, state.batch, state.epoch_losses = epoch + 1, 0, defaultdict(float)
        state.loader_rng = loader_generator.get_state() if isinstance(loader_generator, torch.Generator) else None
        save()
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


def _save(path: Path, state: _Progress, trainer: Trainer) -> None:
    """Write the checkpoint atomically with its checksum (:mod:`mtlbench.train.checkpoint`)."""
    rng: dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    payload = {
        "progress": state,
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "method_state": trainer.method.state_dict(),
        "engine": trainer.engine.state_dict(),
        "scaler": trainer.scaler.state_dict() if trainer.scaler is not None else None,
        "rng": rng,
    }
    save_checkpoint(path, payload)


def _restore(payload: dict[str, Any], trainer: Trainer) -> _Progress:
    trainer.model.load_state_dict(payload["model"])
    trainer.optimizer.load_state_dict(payload["optimizer"])
    trainer.engine.load_state_dict(payload["engine"])
    if trainer.scaler is not None and payload.get("scaler"):
        trainer.scaler.load_state_dict(payload["scaler"])
    torch.set_rng_state(payload["rng"]["torch"])
    np.random.set_state(payload["rng"]["numpy"])
    random.setstate(payload["rng"]["python"])
    if "cuda" in payload["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(payload["rng"]["cuda"])
    return payload["progress"]


@torch.no_grad()
def generate_reports(model: Backbone, batches: Iterable[Batch], device: torch.device) -> tuple[list[str], list[str]]:
    """(ids, generated texts) for every study of ``batches``."""
    model.eval()
    ids: list[str] = []
    texts: list[str] = []
    for batch in batches:
        ids.extend(batch.ids)
        texts.extend(model.generate(batch.images.to(device), batch.view_mask.to(device)))
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
