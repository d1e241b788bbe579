"""Test-time outputs of the trained task heads other than the report (the cls head's probabilities)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from mtlbench.backbones import Backbone
from mtlbench.data.batch import Batch


@torch.no_grad()
def predict_probabilities(
    model: Backbone, batches: Iterable[Batch], device: torch.device
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(ids, [N, 14] probabilities of the cls head, [N, 14] 0/1 targets it was trained on)."""
    model.eval()
    ids: list[str] = []
    probs: list[torch.Tensor] = []
    targets: list[torch.Tensor] = []
    for batch in batches:
        ids.extend(batch.ids)
        probs.append(model.predict_labels(batch.images.to(device), batch.view_mask.to(device)).float().cpu())
        targets.append(batch.labels.float().cpu())
    return ids, torch.cat(probs), torch.cat(targets)


@torch.no_grad()
def retrieval_embeddings(
    model: Backbone, batches: Iterable[Batch], device: torch.device
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(ids, [N, D] image embeddings, [N, D] report embeddings) of the align head."""
    model.eval()
    ids: list[str] = []
    images: list[torch.Tensor] = []
    reports: list[torch.Tensor] = []
    for batch in batches:
        ids.extend(batch.ids)
        image, report = model.embed_pairs(batch.to(device))
        images.append(image.float().cpu())
        reports.append(report.float().cpu())
    return ids, torch.cat(images), torch.cat(reports)
