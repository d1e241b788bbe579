"""A backbone small enough to train a whole fit() in milliseconds: the method contract's test bench."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mtlbench.backbones.base import Backbone, BackboneConfig
from mtlbench.data.batch import Batch

TASKS = ("report", "cls", "align")


class TinyBackbone(Backbone):
    """A linear trunk over the flattened images and one regression head per task."""

    @classmethod
    def supported_tasks(cls) -> tuple[str, ...]:
        return TASKS

    def __init__(self, tasks: tuple[str, ...] = TASKS) -> None:
        super().__init__(BackboneConfig(vocab_size=2, tasks=tasks), decoder=None)  # type: ignore[arg-type]
        torch.manual_seed(0)
        self.trunk = nn.Linear(12, 5)
        self.heads = nn.ModuleDict({task: nn.Linear(5, 1) for task in tasks})

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        z = torch.tanh(self.trunk(batch.images.flatten(1)))
        self.representation = z
        targets = batch.labels[:, : len(self.tasks)]
        return {task: (self.heads[task](z)[:, 0] - targets[:, i]).pow(2).mean() for i, task in enumerate(self.tasks)}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.heads[task].parameters())

    def generate(self, images: Tensor, view_mask: Tensor | None = None) -> list[str]:
        return [""] * images.shape[0]


def batches(epoch: int, n: int = 3) -> list[Batch]:
    """``n`` fixed batches of 6 studies (the same for every epoch, as a resumed run must see them)."""
    out = []
    for i in range(n):
        generator = torch.Generator().manual_seed(i)
        images = torch.randn(6, 1, 3, 2, 2, generator=generator)
        labels = torch.rand(6, 14, generator=generator) * 2 - 1
        tokens = torch.zeros(6, 4, dtype=torch.long)
        out.append(Batch(tuple(f"s{i}-{j}" for j in range(6)), images, tokens, torch.ones(6, 4), labels))
    return out
