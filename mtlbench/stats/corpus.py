"""Corpus-level metrics from SUMMED per-example sufficient statistics, vectorised over resamples.

A bootstrap or randomization resample of the test set is a weight per example; the corpus
statistics of that resample are one matrix product (weights @ per-example stats), so every
formula here takes arrays whose last axis holds summed statistics and whose leading axes are
resamples. The formulas reproduce the reference implementations exactly (pycocoevalcap's
BleuScorer with its epsilons, Meteor 1.5's aggregate score), not approximations of them.
"""

from __future__ import annotations

import numpy as np

from mtlbench.formulas import bleu, f1_from_counts, safe_divide

__all__ = ["bleu", "f1_from_counts", "meteor", "meteor_segment_chunks", "safe_divide"]
"""BLEU and F1 from summed statistics are defined once, in :mod:`mtlbench.formulas` (metrics uses them too)."""

BLEU_COLUMNS = 10
"""testlen, reflen, guess[1..4], correct[1..4] of pycocoevalcap's per-sentence comps."""

METEOR_COLUMNS = 23
"""Meteor 1.5 sufficient statistics: tstLen refLen tstFunc refFunc, 4 modules x (tstContent
refContent tstFunction refFunction), chunks, tstWordMatches refWordMatches."""

# Meteor 1.5 parameters for ``-l en`` in the default task, as pycocoevalcap runs it.
METEOR_ALPHA, METEOR_BETA, METEOR_GAMMA, METEOR_DELTA = 0.85, 0.20, 0.60, 0.75
METEOR_MODULE_WEIGHTS = np.array([1.0, 0.6, 0.8, 0.6])  # exact, stem, synonym, paraphrase


def meteor_segment_chunks(stats: np.ndarray) -> np.ndarray:
    """Per-example stats with chunks zeroed where test == reference, as Meteor's aggregation does.

    Meteor adds a segment's chunks to the corpus total only when the segment is not a perfect
    match (all words matched in one chunk); doing this per example keeps the aggregate a sum.
    """
    stats = np.array(stats, float, copy=True)
    modules = stats[..., 4:20].reshape(*stats.shape[:-1], 4, 4)
    test_total = modules[..., 0].sum(-1) + modules[..., 2].sum(-1)
    ref_total = modules[..., 1].sum(-1) + modules[..., 3].sum(-1)
    perfect = (test_total == stats[..., 0]) & (ref_total == stats[..., 1]) & (stats[..., 20] == 1)
    stats[..., 20] = np.where(perfect, 0.0, stats[..., 20])
    return stats


def meteor(sums: np.ndarray) -> np.ndarray:
    """Meteor 1.5 score from summed sufficient statistics ``[..., 23]`` (its EVAL aggregate).

    Sum per-example stats after :func:`meteor_segment_chunks`; one example's stats give that
    example's score.
    """
    sums = np.asarray(sums, float)
    delta, alpha = METEOR_DELTA, METEOR_ALPHA
    test_len, ref_len, test_func, ref_func = (sums[..., i] for i in range(4))
    modules = sums[..., 4:20].reshape(*sums.shape[:-1], 4, 4)
    test_content, ref_content, test_function, ref_function = (modules[..., j] for j in range(4))
    chunks, test_words, ref_words = sums[..., 20], sums[..., 21], sums[..., 22]
    w = METEOR_MODULE_WEIGHTS
    test_weighted = delta * (test_content * w).sum(-1) + (1 - delta) * (test_function * w).sum(-1)
    ref_weighted = delta * (ref_content * w).sum(-1) + (1 - delta) * (ref_function * w).sum(-1)
    test_weighted_len = delta * (test_len - test_func) + (1 - delta) * test_func
    ref_weighted_len = delta * (ref_len - ref_func) + (1 - delta) * ref_func
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = test_weighted / test_weighted_len
        recall = ref_weighted / ref_weighted_len
        f_mean = 1.0 / ((1 - alpha) / precision + alpha / recall)
        test_total = (test_content + test_function).sum(-1)
        ref_total = (ref_content + ref_function).sum(-1)
        perfect = (test_total == test_len) & (ref_total == ref_len) & (chunks == 1)
        frag = np.where(perfect, 0.0, chunks / ((test_words + ref_words) / 2))
        score = f_mean * (1 - METEOR_GAMMA * frag**METEOR_BETA)
    return np.where(np.isnan(score), 0.0, np.maximum(score, 0.0))
