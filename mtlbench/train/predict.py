"""Test-time outputs of the trained task heads other than the report (cls probabilities, align embeddings)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from mtlbench.backbones import Backbone
from mtlbench.data.batch import Batch

Pair = tuple[torch.Tensor, torch.Tensor]


@torch.no_grad()
def _gather(
    model: Backbone, batches: Iterable[Batch], device: torch.device, outputs: Callable[[Batch], Pair]
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(ids, and the two [N, ...] outputs of ``outputs`` on every batch, concatenated on the CPU in float32)."""
    model.eval()
    ids: list[str] = []
    first: list[torch.Tensor] = []
    second: list[torch.Tensor] = []
    for batch in batches:
        ids.extend(batch.ids)
        a, b = outputs(batch.to(device))
        first.append(a.float().cpu())
        second.append(b.float().cpu())
    return ids, torch.cat(first), torch.cat(second)


def predict_probabilities(
    model: Backbone, batches: Iterable[Batch], device: torch.device
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(ids, [N, 14] probabilities of the cls head, [N, 14] 0/1 targets it was trained on)."""
    return _gather(model, batches, device, lambda b: (model.predict_labels(b.images, b.view_mask), b.labels))


def retrieval_embeddings(
    model: Backbone, batches: Iterable[Batch], device: torch.device
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(ids, [N, D] image embeddings, [N, D] report embeddings) of the align head."""
    return _gather(model, batches, device, model.embed_pairs)
