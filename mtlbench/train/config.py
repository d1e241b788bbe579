"""Frozen training and evaluation settings: part of a run's identity."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """How one run trains. Defaults are the CPU-sized embedded benchmark."""

    epochs: int = 6
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 5e-5
    grad_clip: float = 5.0
    monitor: str = "BLEU_4"
    """Validation criterion for model selection: a metric name (higher is better) or "loss"."""
    image_size: int = 64
    cls_uncertain: str = "positive"
    """How uncertain CheXpert labels become targets of the classification task (U-Ones or U-Zeros)."""
    log_every: int = 1
    """Write a training-log line every this many steps."""
    probe_every: int = 10
    """For loss-weighting methods, take per-task gradients every this many steps (0: never) so their
    diagnostics (cosines, conflicts) exist too; gradient methods have them every step."""
    update_every: int = 1
    """Solve for task weights every this many steps and reuse them in between (one backward pass)."""
    precision: str = "fp32"
    """fp32, or mixed precision under torch.autocast: bf16, or fp16 with a gradient scaler."""


@dataclass(frozen=True)
class EvalConfig:
    """How generated reports are scored."""

    labeler: str = "rules"
    uncertain: str = "positive"
    """CheXpert 'uncertain' counted as positive (f1chexbert, CAME-Grad) or negative (R2GenCMN)."""
    meteor: bool = True
