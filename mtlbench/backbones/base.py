"""The contract of a report-generation backbone, and the registry that holds them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from mtlbench.data.batch import Batch
from mtlbench.errors import MtlbenchError
from mtlbench.registry import Registry, require_subclass

TASKS: tuple[str, ...] = ("report", "cls", "align")
"""Task names a backbone may offer: report generation (LM loss), 14-label classification,
image-report contrastive alignment."""


class Decoder(Protocol):
    """Turns generated token ids into cleaned report text."""

    def decode(self, ids: Sequence[int]) -> str: ...


@dataclass(frozen=True)
class BackboneConfig:
    """Everything a backbone needs to build itself; frozen so runs can hash it."""

    vocab_size: int
    max_len: int = 60
    """Most tokens a generated report may have: the dataset's max_seq_length (IU 60, MIMIC 100)."""
    num_labels: int = 14
    tasks: tuple[str, ...] = ("report", "cls")
    size: str = "tiny"
    image_size: int = 64
    num_views: int = 2
    """Most views (images) per study: the dataset's V (IU X-Ray: the most images a study has, or
    its ``max_views`` cap; MIMIC-CXR 1). Sizes the per-view embeddings; batches may carry fewer
    slots, and padded slots (``view_mask`` False) are masked out of attention and pooling."""
    beam_size: int = 3
    """R2Gen's and R2GenCMN's beam; 1 is greedy decoding."""
    block_trigrams: bool = True
    extractor: str = ""
    """Visual extractor, "cnn" or "resnet101"; empty = the size's default (tiny: cnn, paper: resnet101)."""
    extractor_weights: str | None = None
    """A local state_dict file for the extractor (torchvision resnet101 keys); nothing is downloaded."""
    freeze_extractor: bool = False
    """Keep the extractor as built or loaded: no gradient, batch norm on its running statistics
    (eval mode) throughout training; the rest of the model trains as usual."""
    feature_cache: bool = False
    """The model's inputs are the frozen extractor's features [B, V, C, h, w] instead of images,
    precomputed once per dataset from UN-augmented images (``mtlbench.runner.feature_cache``):
    needs ``freeze_extractor`` and training without augmentation (``--no-augment``)."""


BACKBONE_OPTIONS: dict[str, type] = {
    "extractor": str,
    "extractor_weights": str,
    "beam_size": int,
    "block_trigrams": bool,
    "freeze_extractor": bool,
    "feature_cache": bool,
}
"""Run options of a backbone (``--backbone-opt KEY=VALUE``, a grid file's ``[backbone]`` table)."""


def check_backbone_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` validated against :data:`BACKBONE_OPTIONS`, with one-line errors."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        kind = BACKBONE_OPTIONS.get(key)
        if kind is None:
            raise MtlbenchError(f"unknown backbone option {key!r}; valid: {', '.join(BACKBONE_OPTIONS)}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise MtlbenchError(f"backbone option {key} must be a positive integer; got {value!r}")
        if kind is not int and not isinstance(value, kind):
            raise MtlbenchError(f"backbone option {key} must be a {kind.__name__}; got {value!r}")
        out[key] = value
    return out


class Backbone(nn.Module, ABC):
    """A model that returns one scalar loss per task and writes reports.

    Every parameter is either shared by all tasks or belongs to exactly one task, so the
    MTL engine can take per-task gradients over the shared part only.
    """

    registered_name = ""

    def __init__(self, config: BackboneConfig, decoder: Decoder) -> None:
        super().__init__()
        unknown = set(config.tasks) - set(self.supported_tasks())
        if unknown:
            raise MtlbenchError(
                f"{type(self).__name__} has no task {sorted(unknown)}; it offers {list(self.supported_tasks())}"
            )
        if len(set(config.tasks)) != len(config.tasks):
            raise MtlbenchError(f"tasks {list(config.tasks)} name a task twice; give each task once")
        self.config = config
        self.decoder = decoder
        self.representation: Tensor | None = None
        """Set by ``forward``: the shared trunk's output for the batch, the tensor every task head
        reads. Representation-level methods (MGDA-UB, RLAR) differentiate the task losses by it."""

    @classmethod
    def supported_tasks(cls) -> tuple[str, ...]:
        return ("report", "cls")

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.config.tasks

    @abstractmethod
    def forward(self, batch: Batch) -> dict[str, Tensor]:
        """{task: scalar loss} for the configured tasks."""

    @abstractmethod
    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters every task's loss depends on (the trunk)."""

    @abstractmethod
    def task_parameters(self, task: str) -> list[nn.Parameter]:
        """Parameters that belong to ``task`` alone (its head)."""

    @abstractmethod
    def generate(self, images: Tensor, view_mask: Tensor | None = None) -> list[str]:
        """Cleaned report text for each study in ``images`` [B, V, C, H, W]; ``view_mask`` [B, V]
        bool marks the real views (None: all real), as ``Batch.view_mask``."""

    def predict_labels(self, images: Tensor, view_mask: Tensor | None = None) -> Tensor:
        """[B, num_labels] probabilities from the classification head."""
        raise NotImplementedError(f"{type(self).__name__} has no classification head")

    def embed_pairs(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """([B, D] image embeddings, [B, D] report embeddings) of the align head, unit vectors, for retrieval."""
        raise NotImplementedError(f"{type(self).__name__} has no alignment head")

    def check_partition(self) -> None:
        """Raise if shared and task parameters overlap or leave a trainable parameter out."""
        seen: dict[int, str] = {id(p): "shared" for p in self.shared_parameters()}
        for task in self.tasks:
            for p in self.task_parameters(task):
                if id(p) in seen:
                    raise AssertionError(f"parameter owned by both {seen[id(p)]!r} and {task!r}")
                seen[id(p)] = task
        missing = [n for n, p in self.named_parameters() if p.requires_grad and id(p) not in seen]
        if missing:
            raise AssertionError(f"parameters neither shared nor task-owned: {missing[:5]}")

    @torch.no_grad()
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


BACKBONES: Registry[type[Backbone]] = Registry("backbone", "mtlbench.backbones", check=require_subclass(Backbone))
