"""The MTL training step: forward, the engine's per-task backward, clipping, optimiser, method hooks.

One object so that ``fit`` and the step-time benchmarks run exactly the same code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mtlbench.backbones.base import Backbone
from mtlbench.data.batch import Batch
from mtlbench.methods.base import Method, method_seed
from mtlbench.train.config import TrainConfig
from mtlbench.train.engine import MTLEngine, StepRecord


class Diverged(RuntimeError):
    """A task loss became NaN or infinite: the run is recorded as failed with this reason."""


class Trainer:
    """A backbone, a method and their optimiser, driven one step at a time.

    The method is set up as its contract says (:class:`~mtlbench.methods.base.Method`): tasks,
    task names, its random stream from the run's ``seed`` (:func:`~mtlbench.methods.base.method_seed`),
    then ``method_state`` (from a checkpoint), before the optimiser is built, because the
    optimiser must hold the method's own learnable parameters (uncertainty weighting).
    """

    def __init__(
        self,
        model: Backbone,
        method: Method,
        config: TrainConfig,
        device: torch.device,
        *,
        seed: int = 0,
        method_state: dict[str, Any] | None = None,
    ) -> None:
        self.model = model.to(device)
        self.method = method
        self.config = config
        self.device = device
        method.setup(len(model.tasks))
        method.set_task_names(model.tasks)
        method.set_seed(method_seed(seed, method.display_name()))
        if method_state is not None:
            method.load_state_dict(method_state)
        self.engine = MTLEngine(
            model.shared_parameters(),
            {task: model.task_parameters(task) for task in model.tasks},
            method,
            probe_every=config.probe_every,
            update_every=config.update_every,
        )
        self.groups = {"shared": model.shared_parameters()} | {t: model.task_parameters(t) for t in model.tasks}
        self.params = [p for p in model.parameters() if p.requires_grad] + list(method.extra_parameters())
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr, weight_decay=config.weight_decay)
        self.autocast, self.scaler = precision_context(config.precision, device)
        self.frozen: list[nn.Parameter] = []

    def start_epoch(self, epoch: int) -> None:
        """Let a schedule (staged) pick this epoch's stage; collect what it freezes."""
        self.method.start_epoch(epoch, self.config.epochs)
        self.frozen = [p for group in self.method.frozen_groups() for p in self.groups[group]]
        self.model.train()

    def step(self, batch: Batch, *, where: str = "") -> StepRecord:
        """One optimiser step on ``batch``; ``where`` names the step in a divergence message."""
        model, method = self.model, self.method
        batch = batch.to(self.device)
        with self.autocast():
            losses = model(batch)
        for task, value in losses.items():
            if not torch.isfinite(value).all():
                raise Diverged(f"diverged: loss of task {task!r} is {float(value)}{where}")
        self.optimizer.zero_grad(set_to_none=True)
        record = self.engine.backward(losses, representation=model.representation, scaler=self.scaler)
        model.representation = None  # free its graph now rather than at the next forward
        for p in self.frozen:  # a parameter without .grad is left untouched by AdamW, decay included
            p.grad = None
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if method.observes_updated_losses:  # FAMO learns from the same batch's losses after the step
            with torch.no_grad(), self.autocast():
                after = model(batch)
            model.representation = None
            method.observe(torch.stack([after[t].detach().double() for t in model.tasks]))
        return record

    def end_epoch(self, train_loss: dict[str, float]) -> None:
        self.method.end_epoch(torch.tensor([train_loss[t] for t in self.model.tasks], dtype=torch.float64))


def precision_context(
    precision: str, device: torch.device
) -> tuple[Callable[[], contextlib.AbstractContextManager], torch.amp.GradScaler | None]:
    """The autocast context and gradient scaler for ``precision`` (fp16 needs a scaler, bf16 does not)."""
    if precision == "fp32":
        return contextlib.nullcontext, None
    if precision not in ("bf16", "fp16"):
        raise ValueError(f"precision must be fp32, bf16 or fp16; got {precision!r}")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    return (lambda: torch.autocast(device.type, dtype=dtype)), scaler
