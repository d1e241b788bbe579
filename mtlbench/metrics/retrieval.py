"""The align task's own test metrics: image-to-report and report-to-image retrieval recall@k.

Gallery: the whole test split. Positives follow the training loss's convention
(``backbones.heads.same_report``): a study's positives are the studies with the word-for-word
identical reference report (normal studies often share one), so retrieving a twin counts as a hit.
A query's rank is 1 + the number of non-positive candidates scored strictly above its best
positive (ties go the query's way, as CLIP's evaluation code's argsort does not define them).
Per example, a hit@k indicator in each direction: recall@k is their mean, so it resamples
exactly (the gallery stays the full test split on every resample).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtlbench.errors import MtlbenchError

RECALL_AT = (1, 5, 10)
DIRECTIONS = ("i2t", "t2i")
ALIGN_KEYS = tuple(f"ALIGN_R{k}_{direction}" for direction in DIRECTIONS for k in RECALL_AT)
"""The corpus figures the align task adds to a run's test metrics, in the order of ``retrieval_hits``' columns."""


def _hits(scores: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """[n, len(RECALL_AT)] 0/1: does query i find a positive among its top k?"""
    best = np.where(positives, scores, -np.inf).max(axis=1)
    rank = 1 + (np.where(positives, -np.inf, scores) > best[:, None]).sum(axis=1)
    return (rank[:, None] <= np.array(RECALL_AT)[None, :]).astype(float)


def retrieval_hits(images: np.ndarray, reports: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """[n, 6] hit@1, @5, @10 image-to-report, then report-to-image, for unit embeddings [n, D]."""
    images, reports = np.asarray(images, float), np.asarray(reports, float)
    if images.ndim != 2 or images.shape != reports.shape or len(texts) != len(images):
        raise MtlbenchError(
            f"align outputs: image {images.shape} and report {reports.shape} embeddings must be [examples, dim] "
            f"with one reference text each ({len(texts)} given)"
        )
    keys = np.unique(np.asarray(texts, dtype=object), return_inverse=True)[1]
    positives = keys[:, None] == keys[None, :]  # a study is its own positive, and its twins are too
    scores = images @ reports.T
    return np.concatenate([_hits(scores, positives), _hits(scores.T, positives.T)], axis=1)


def score_retrieval(hits: np.ndarray) -> dict[str, float]:
    """Recall@k in both directions: the mean of the per-example hits."""
    return {key: float(value) for key, value in zip(ALIGN_KEYS, np.asarray(hits, float).mean(axis=0), strict=True)}
