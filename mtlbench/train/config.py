"""Frozen training settings: part of a run's identity (evaluation settings: :mod:`mtlbench.metrics.config`)."""

from __future__ import annotations

from dataclasses import dataclass

from mtlbench.chexpert import UNCERTAIN_POLICIES
from mtlbench.data.images import DECODES
from mtlbench.settings_checks import check_setting as _check
from mtlbench.settings_checks import check_setting_types as _check_types

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class TrainConfig:
    """How one run trains. Defaults are the CPU-sized embedded benchmark.

    20 epochs: with fewer, the tiny decoder has learnt the report language but not yet to read the
    image, so it writes the stock normal report and clinical efficacy cannot tell methods apart
    (CE micro-F1 of ls on the synthetic test set: 0.34 after 6 epochs, 0.5 after 12, 0.71 after 20).
    """

    epochs: int = 20
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
    augment: bool = True
    """R2Gen's training augmentation (random crop after a larger resize, horizontal flip); False
    gives the training images the eval transform (needed by the frozen-extractor feature cache)."""
    image_decode: str = "full"
    """JPEG decoding: "full", or "reduced" (the decoder's DCT scaling down to the smallest scale the
    target size allows: several times faster on full-resolution files, slightly different pixels)."""

    def __post_init__(self) -> None:
        _check_types(self, "train")
        for name in ("epochs", "batch_size", "image_size", "log_every", "update_every"):
            value = getattr(self, name)
            _check("train", name, value, value >= 1, "an integer of at least 1")
        _check("train", "probe_every", self.probe_every, self.probe_every >= 0, "an integer of at least 0")
        _check("train", "lr", self.lr, self.lr > 0, "a positive number")
        for name in ("weight_decay", "grad_clip"):
            value = getattr(self, name)
            _check("train", name, value, value >= 0, "a number of at least 0 (0 turns it off)")
        _check("train", "precision", self.precision, self.precision in PRECISIONS, " or ".join(PRECISIONS))
        _check("train", "image_decode", self.image_decode, self.image_decode in DECODES, " or ".join(DECODES))
        _check(
            "train",
            "cls_uncertain",
            self.cls_uncertain,
            self.cls_uncertain in UNCERTAIN_POLICIES,
            " or ".join(UNCERTAIN_POLICIES),
        )
