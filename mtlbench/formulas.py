"""Corpus metrics from summed sufficient statistics (ground floor: metrics and stats import them).

Every formula takes arrays whose last axis holds SUMMED statistics and whose leading axes are
anything (resamples, runs), so the same definition scores one evaluation (``metrics``) and every
bootstrap resample of it (``stats``). They reproduce the reference implementations exactly
(pycocoevalcap's BleuScorer with its epsilons; sklearn's zero_division=0 for P/R/F1).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

BLEU_TINY = 1e-15
"""pycocoevalcap BleuScorer: added to the match count so that zero matches give 0, not NaN."""
BLEU_SMALL = 1e-9
"""pycocoevalcap BleuScorer: added to the guess count and the reference length against 0/0."""


def bleu(sums: np.ndarray, n: int) -> np.ndarray:
    """Corpus BLEU-n from summed comps ``[..., 10]``, exactly as pycocoevalcap computes it.

    Columns: testlen, reflen, guess[1..4], correct[1..4] (pycocoevalcap's per-sentence comps,
    summed). The reference length is the sum of each sentence's "closest" reference length
    (already resolved per example); the brevity penalty applies when the test is shorter.
    """
    if not 1 <= n <= 4:
        raise ValueError(f"BLEU order must be 1..4, got {n}")
    sums = np.asarray(sums, float)
    testlen, reflen = sums[..., 0], sums[..., 1]
    guess, correct = sums[..., 2:6], sums[..., 6:10]
    precisions = (correct[..., :n] + BLEU_TINY) / (guess[..., :n] + BLEU_SMALL)
    score = np.prod(precisions, axis=-1) ** (1.0 / n)
    ratio = (testlen + BLEU_TINY) / (reflen + BLEU_SMALL)
    with np.errstate(divide="ignore", over="ignore"):
        penalty = np.where(ratio < 1, np.exp(1 - 1 / ratio), 1.0)
    return score * penalty


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (sklearn's zero_division=0)."""
    numerator, denominator = np.broadcast_arrays(np.asarray(numerator, float), np.asarray(denominator, float))
    out = np.zeros(numerator.shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def precision_from_counts(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """tp / (tp + fp), 0 when nothing was predicted positive."""
    return safe_divide(tp, np.asarray(tp, float) + fp)


def recall_from_counts(tp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """tp / (tp + fn), 0 when nothing is positive in the reference."""
    return safe_divide(tp, np.asarray(tp, float) + fn)


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 = 2tp / (2tp + fp + fn), 0 when nothing is positive in either report set."""
    return safe_divide(2 * np.asarray(tp, float), 2 * np.asarray(tp, float) + fp + fn)


CLS_THRESHOLD = 0.5
"""A finding is predicted present when the head's probability is at least this."""


def auroc(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mann-Whitney AUROC of 1-D ``scores`` against 0/1 ``targets``; NaN without both classes."""
    scores, targets = np.asarray(scores, float), np.asarray(targets, bool)
    n_pos, n_neg = int(targets.sum()), int((~targets).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)  # mid-ranks: a tie counts one half
    return float((ranks[targets].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def placement_values(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """DeLong's placement values: for a positive, the share of negatives scored below it (ties
    one half); for a negative, the share of positives scored above it. Their mean over either
    class is the AUROC; zeros where a class is absent."""
    scores, targets = np.asarray(scores, float), np.asarray(targets, bool)
    out = np.zeros(scores.shape)
    pos, neg = scores[targets], scores[~targets]
    if len(pos) == 0 or len(neg) == 0:
        return out
    neg_sorted, pos_sorted = np.sort(neg), np.sort(pos)
    below = np.searchsorted(neg_sorted, pos, "left") + np.searchsorted(neg_sorted, pos, "right")
    out[targets] = below / (2 * len(neg))
    above = 2 * len(pos) - np.searchsorted(pos_sorted, neg, "right") - np.searchsorted(pos_sorted, neg, "left")
    out[~targets] = above / (2 * len(pos))
    return out
