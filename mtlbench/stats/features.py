"""Per-example sufficient statistics of one run, as a dense matrix made of named column blocks.

Every corpus metric of the leaderboard is a function of column sums of this matrix, so a
resample of the test set (example weights) needs one matrix product and nothing per example.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtlbench.chexpert import CHEXPERT_LABELS, COMPETITION_LABELS, binarize_codes
from mtlbench.formulas import (
    CLS_THRESHOLD,
    auroc,
    f1_from_counts,
    placement_values,
    precision_from_counts,
    recall_from_counts,
)
from mtlbench.stats.corpus import BLEU_COLUMNS, METEOR_COLUMNS, meteor_segment_chunks

N_LABELS = len(CHEXPERT_LABELS)
AUC_COLUMNS = 6
"""Per AUROC: positive x placement, positive, negative x placement, negative, full-set AUROC, defined."""
COMPETITION_INDEX = np.array([CHEXPERT_LABELS.index(name) for name in COMPETITION_LABELS])

BLOCK_WIDTHS: dict[str, int] = {
    "bleu": BLEU_COLUMNS,  # pycocoevalcap comps: testlen, reflen, guess[4], correct[4]
    "rouge_l": 1,  # per-example ROUGE-L (pycocoevalcap's corpus ROUGE-L is their mean)
    "cider": 1,  # per-example CIDEr-D, IDF from the full test set's references
    "meteor": METEOR_COLUMNS,  # Meteor 1.5 stats, chunks zeroed for perfect segments
    "meteor_mean": 1,  # per-example METEOR, when the stats are not stored
    "ce_label": 3 * N_LABELS,  # tp[14], fp[14], fn[14]
    "ce_micro": 3,  # tp, fp, fn summed over the 14 labels
    "ce_micro5": 3,  # tp, fp, fn summed over the 5 competition labels
    "ce_example": 3,  # per-report precision, recall, F1
    # model-based metrics (mtlbench.metrics.model_families): per-example scores, corpus = mean
    "bertscore": 1,  # BERTScore F1, RadEval's convention
    "bertscore_radcliq": 1,  # BERTScore F1, RadCliQ's convention (idf from the full test set)
    "semb": 1,  # cosine of CheXbert embeddings
    "radgraph": 3,  # F1RadGraph rewards: simple, partial, complete
    "radgraph_combined": 1,  # RadCliQ's (entity F1 + relation F1) / 2
    "radcliq_v1": 1,  # RadCliQ-v1 per report (lower is better)
    "ratescore": 1,  # RaTEScore per report
    # the cls task's head (mtlbench.metrics.classification), from cls_probs and cls_targets
    "cls_label": 3 * N_LABELS,  # tp[14], fp[14], fn[14] at the 0.5 threshold
    "cls_auc_label": AUC_COLUMNS * N_LABELS,  # per finding: DeLong's placement columns (see auc_columns)
    "cls_auc_micro": AUC_COLUMNS,  # the same over the raveled (example, finding) pairs, summed per example
    # the align task's head (mtlbench.metrics.retrieval): hit@1, @5, @10 image-to-report, then report-to-image
    "align_hits": 6,
}
SCALAR_BLOCKS = (
    "rouge_l",
    "cider",
    "bertscore",
    "bertscore_radcliq",
    "semb",
    "radgraph_combined",
    "radcliq_v1",
    "ratescore",
)


class MissingStatistic(ValueError):
    """A run's examples lack what a block needs (e.g. no METEOR stats were stored)."""


def _label_codes(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """[n, 14] codes, null (blank) as NaN."""
    try:
        out = np.array([row.get(key) for row in rows], dtype=float)  # None -> NaN
    except (TypeError, ValueError) as err:
        raise MissingStatistic(f"{key} must be a list of {N_LABELS} codes on every example") from err
    if out.shape != (len(rows), N_LABELS):
        raise MissingStatistic(f"{key} must be a list of {N_LABELS} codes on every example")
    return out


def _stat(row: Mapping[str, Any], name: str) -> Any:
    stats = row.get("stats")
    if not isinstance(stats, Mapping) or stats.get(name) is None:
        raise MissingStatistic(f"stats.{name} is missing")
    return stats[name]


def _bleu_block(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    out = np.empty((len(rows), BLEU_COLUMNS))
    for i, row in enumerate(rows):
        comps = _stat(row, "bleu")
        try:
            out[i] = [comps["testlen"], comps["reflen"], *comps["guess"][:4], *comps["correct"][:4]]
        except (KeyError, TypeError, ValueError) as err:
            raise MissingStatistic(f"stats.bleu is malformed ({err})") from err
    return out


def _scalar_block(rows: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    return np.array([[float(_stat(row, name))] for row in rows]).reshape(len(rows), 1)


def _vector_block(rows: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    width = BLOCK_WIDTHS[name]
    values = [_stat(row, name) for row in rows]
    if any(not isinstance(v, list) or len(v) != width for v in values):
        raise MissingStatistic(f"stats.{name} must hold {width} numbers on every example")
    return np.array(values, float).reshape(len(rows), width)


def _meteor_block(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    stats = [_stat(row, "meteor_stats") for row in rows]
    if any(not isinstance(s, list) or len(s) != METEOR_COLUMNS for s in stats):
        raise MissingStatistic(f"stats.meteor_stats must hold Meteor 1.5's {METEOR_COLUMNS} numbers")
    return meteor_segment_chunks(np.array(stats, float).reshape(len(rows), METEOR_COLUMNS))


def _ce_counts(rows: Sequence[Mapping[str, Any]], uncertain: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    generated = binarize_codes(_label_codes(rows, "labels_generated"), uncertain)
    reference = binarize_codes(_label_codes(rows, "labels_reference"), uncertain)
    tp = generated & reference
    return tp, generated & (1 - reference), (1 - generated) & reference


def _ce_example(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    tp, fp, fn = tp.sum(1), fp.sum(1), fn.sum(1)
    return np.stack([precision_from_counts(tp, fp), recall_from_counts(tp, fn), f1_from_counts(tp, fp, fn)], axis=1)


def _ce_block(name: str, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    if name == "ce_label":
        return np.concatenate([tp, fp, fn], axis=1).astype(float)
    if name == "ce_micro":
        return np.stack([tp.sum(1), fp.sum(1), fn.sum(1)], axis=1).astype(float)
    if name == "ce_micro5":
        sub = (m[:, COMPETITION_INDEX] for m in (tp, fp, fn))
        return np.stack([m.sum(1) for m in sub], axis=1).astype(float)
    if name == "ce_example":
        return _ce_example(tp, fp, fn)
    raise KeyError(f"unknown statistics block {name!r}")


def _cls_outputs(rows: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """[n, 14] probabilities and 0/1 targets of the cls head, or MissingStatistic (a run without cls)."""
    try:
        probs = np.array([row["cls_probs"] for row in rows], dtype=float)
        targets = np.array([row["cls_targets"] for row in rows], dtype=float)
    except (KeyError, TypeError, ValueError) as err:
        raise MissingStatistic("cls_probs and cls_targets are missing") from err
    if probs.shape != (len(rows), N_LABELS) or targets.shape != probs.shape:
        raise MissingStatistic(f"cls_probs and cls_targets must hold {N_LABELS} numbers on every example")
    return probs, targets > 0.5


def auc_columns(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """[n, AUC_COLUMNS] per-example columns whose weighted sums give AUROC on a resample.

    AUROC is a two-sample U-statistic, not a sum over examples; its first-order (Hajek) projection
    is: AUROC_w ~= sum_pos w V10 / sum_pos w + sum_neg w V01 / sum_neg w - AUROC, with DeLong's
    placement values V10, V01 computed on the full test set (see ``auroc_from_sums``). At unit
    weights it is the exact AUROC; its variance over resamples is DeLong's.
    """
    scores, targets = np.asarray(scores, float), np.asarray(targets, bool)
    value = auroc(scores, targets)
    place = placement_values(scores, targets)
    defined = not np.isnan(value)
    out = np.zeros((len(scores), AUC_COLUMNS))
    out[:, 0] = targets * place
    out[:, 1] = targets
    out[:, 2] = ~targets * place
    out[:, 3] = ~targets
    out[:, 4] = value if defined else 0.0
    out[:, 5] = float(defined)
    return out


def _cls_block(name: str, probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    if name == "cls_label":
        predicted = probs >= CLS_THRESHOLD
        tp, fp, fn = predicted & targets, predicted & ~targets, ~predicted & targets
        return np.concatenate([tp, fp, fn], axis=1).astype(float)
    if name == "cls_auc_label":
        return np.concatenate([auc_columns(probs[:, j], targets[:, j]) for j in range(N_LABELS)], axis=1)
    if name == "cls_auc_micro":
        n = len(probs)
        pairs = auc_columns(probs.ravel(), targets.ravel()).reshape(n, N_LABELS, AUC_COLUMNS)
        out = pairs.sum(axis=1)  # an example carries its 14 pairs: resampling it resamples them together
        out[:, 4:] = pairs[:, 0, 4:]  # the full-set AUROC and "defined" are per example, not per pair
        return out
    raise KeyError(f"unknown statistics block {name!r}")


def build_block(name: str, rows: Sequence[Mapping[str, Any]], uncertain: str) -> np.ndarray:
    """One named block ``[n, BLOCK_WIDTHS[name]]`` for the rows of one run's examples.jsonl."""
    if name == "bleu":
        return _bleu_block(rows)
    if name in SCALAR_BLOCKS:
        return _scalar_block(rows, name)
    if name in ("radgraph", "align_hits"):
        return _vector_block(rows, name)
    if name == "meteor_mean":
        return _scalar_block(rows, "meteor")
    if name == "meteor":
        return _meteor_block(rows)
    if name.startswith("ce_"):
        return _ce_block(name, *_ce_counts(rows, uncertain))
    if name.startswith("cls_"):
        return _cls_block(name, *_cls_outputs(rows))
    raise KeyError(f"unknown statistics block {name!r}")


@dataclass(frozen=True)
class Layout:
    """Which blocks a feature matrix holds, in column order."""

    blocks: tuple[str, ...]

    @property
    def width(self) -> int:
        return sum(BLOCK_WIDTHS[b] for b in self.blocks)

    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for block in self.blocks:
            out[block] = slice(start, start + BLOCK_WIDTHS[block])
            start += BLOCK_WIDTHS[block]
        return out

    def split(self, sums: np.ndarray) -> dict[str, np.ndarray]:
        """Named views of summed statistics ``[..., width]``."""
        return {block: sums[..., sl] for block, sl in self.slices().items()}

    def assemble(self, blocks: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """The ``[n, width]`` matrix from built blocks (see :func:`build_blocks`)."""
        if not self.blocks:
            return np.zeros((n, 0))
        return np.concatenate([blocks[b] for b in self.blocks], axis=1)


def build_blocks(rows: Sequence[Mapping[str, Any]], uncertain: str, wanted: Iterable[str]) -> dict[str, np.ndarray]:
    """The blocks among ``wanted`` that these rows can provide; the others are left out."""
    out = {}
    counts: tuple[np.ndarray, np.ndarray, np.ndarray] | MissingStatistic | None = None
    for block in wanted:
        try:
            if block.startswith("ce_"):  # the labels are read once for every CE block
                if counts is None:
                    try:
                        counts = _ce_counts(rows, uncertain)
                    except MissingStatistic as err:
                        counts = err
                if isinstance(counts, MissingStatistic):
                    continue
                out[block] = _ce_block(block, *counts)
            else:
                out[block] = build_block(block, rows, uncertain)
        except MissingStatistic:
            continue
    return out
