"""Comparisons across blocks (Demsar 2006): ranks, Friedman with Iman-Davenport, post-hoc tests, Delta_m%.

Rows of ``scores`` are blocks (independent units: cells, never the correlated metrics of one cell), columns are methods;
higher is better (orient lower-is-better figures before calling). Ties share their mean rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from mtlbench.stats.correction import holm

__all__ = [
    "Friedman",
    "cliques",
    "delta_m",
    "friedman",
    "holm",
    "nemenyi",
    "nemenyi_cd",
    "ranks",
    "wilcoxon_holm",
]


@dataclass(frozen=True)
class Friedman:
    mean_ranks: np.ndarray
    """[k] mean rank of each method over the blocks (1 = best)."""
    chi2: float
    """Friedman's statistic, corrected for ties as scipy.stats.friedmanchisquare does."""
    p_chi2: float
    iman_davenport: float
    """F statistic of Iman and Davenport's correction, with (k-1, (k-1)(N-1)) degrees of freedom;
    infinite when every block ranks the methods alike."""
    p_iman_davenport: float
    """Its p-value; where F is infinite, the exact probability that N blocks rank k methods alike
    under the null, (k!)^(1-N) (the F approximation has no tail there: it printed p = 0)."""


def ranks(scores: np.ndarray) -> np.ndarray:
    """[N, k] ranks within each block, 1 = best (highest), ties averaged."""
    return stats.rankdata(-np.asarray(scores, float), axis=1)


def friedman(scores: np.ndarray) -> Friedman:
    """Friedman's test on [N blocks, k methods], with the Iman-Davenport F correction.

    Iman-Davenport's F is less conservative than the chi-square approximation (Demsar 2006).
    """
    scores = np.asarray(scores, float)
    n, k = scores.shape
    r = ranks(scores)
    mean_ranks = r.mean(axis=0)
    ties = 0.0
    for row in r:
        _, counts = np.unique(row, return_counts=True)
        ties += float(np.sum(counts * (counts**2 - 1)))
    tie_factor = 1 - ties / (k * (k * k - 1) * n)
    if tie_factor <= 0:  # every block a complete tie: no evidence of any difference
        return Friedman(mean_ranks, 0.0, 1.0, 0.0, 1.0)
    chi2 = (12 * n / (k * (k + 1)) * np.sum((mean_ranks - (k + 1) / 2) ** 2)) / tie_factor
    p_chi2 = float(stats.chi2.sf(chi2, k - 1))
    denominator = n * (k - 1) - chi2
    f = (n - 1) * chi2 / denominator if denominator > 0 else math.inf
    p_f = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1))) if math.isfinite(f) else float(math.factorial(k)) ** (1 - n)
    return Friedman(mean_ranks, float(chi2), p_chi2, float(f), p_f)


def pairwise_wilcoxon(scores: np.ndarray) -> np.ndarray:
    """[k, k] raw p-values of two-sided Wilcoxon signed-rank tests over the blocks (1 on the diagonal)."""
    scores = np.asarray(scores, float)
    k = scores.shape[1]
    p = np.ones((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            diff = scores[:, i] - scores[:, j]
            p[i, j] = p[j, i] = 1.0 if np.allclose(diff, 0) else float(stats.wilcoxon(diff).pvalue)
    return p


def wilcoxon_holm(scores: np.ndarray) -> np.ndarray:
    """[k, k] Holm-corrected p-values of pairwise Wilcoxon signed-rank tests over the blocks.

    Benavoli et al. (2016) recommend it over mean-rank tests such as Nemenyi, whose verdict on
    two methods changes when other methods join the pool.
    """
    raw = pairwise_wilcoxon(scores)
    k = raw.shape[0]
    upper = np.triu_indices(k, 1)
    adjusted = np.ones((k, k))
    adjusted[upper] = holm(raw[upper])
    adjusted[(upper[1], upper[0])] = adjusted[upper]
    return adjusted


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """q_alpha of Demsar's Table 5: the studentized range quantile over sqrt(2)."""
    return float(stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of mean ranks: q_alpha sqrt(k (k + 1) / (6 N))."""
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6 * n))


def nemenyi(scores: np.ndarray) -> np.ndarray:
    """[k, k] p-values of Nemenyi's all-pairs test from the mean ranks (as scikit-posthocs)."""
    scores = np.asarray(scores, float)
    n, k = scores.shape
    mean_ranks = ranks(scores).mean(axis=0)
    z = np.abs(mean_ranks[:, None] - mean_ranks[None, :]) / math.sqrt(k * (k + 1) / (6 * n))
    p = stats.studentized_range.sf(z * math.sqrt(2), k, np.inf)
    np.fill_diagonal(p, 1.0)
    return np.minimum(p, 1.0)


def cliques(mean_ranks: np.ndarray, p: np.ndarray, alpha: float) -> list[tuple[int, ...]]:
    """Groups of methods, consecutive in mean rank, with no significant difference inside.

    Each group is maximal (not contained in another) and has at least two members; these are
    the bars of a critical-difference diagram.
    """
    order = [int(i) for i in np.argsort(mean_ranks, kind="stable")]
    same = np.asarray(p) >= alpha
    spans: list[tuple[int, int]] = []
    for start in range(len(order)):
        end = start
        while end + 1 < len(order) and all(same[order[end + 1], order[i]] for i in range(start, end + 1)):
            end += 1
        if end > start and not any(s <= start and end <= e for s, e in spans):
            spans.append((start, end))
    return [tuple(order[s : e + 1]) for s, e in spans]


def delta_m(
    method: np.ndarray, baseline: np.ndarray, higher_is_better: Sequence[bool], tasks: Sequence[str]
) -> np.ndarray:
    """Delta_m% of ``method`` against ``baseline`` (Maninis et al. 2019), positive = better.

    100 x mean over tasks of the mean over the task's metrics of s_k (M_k - B_k) / |B_k|, with
    s_k = +1 for higher-is-better metrics and -1 otherwise (LibMTL's sign; Nash-MTL and FAMO
    print the negative, lower = better). Inputs are ``[..., K]``; metrics whose baseline is 0
    are left out (the ratio is undefined), a task with none left drops out of the mean.
    """
    method = np.asarray(method, float)
    baseline = np.asarray(baseline, float)
    sign = np.where(np.asarray(higher_is_better, bool), 1.0, -1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = sign * (method - baseline) / np.abs(baseline)
    relative = np.where(baseline == 0, np.nan, relative)
    per_task = []
    for task in dict.fromkeys(tasks):
        columns = [k for k, t in enumerate(tasks) if t == task]
        part = relative[..., columns]
        usable = ~np.isnan(part)
        count = usable.sum(axis=-1)
        total = np.where(usable, part, 0.0).sum(axis=-1)
        per_task.append(np.where(count > 0, total / np.maximum(count, 1), np.nan))
    stacked = np.stack(per_task, axis=-1)
    usable = ~np.isnan(stacked)
    count = usable.sum(axis=-1)
    total = np.where(usable, stacked, 0.0).sum(axis=-1)
    return np.where(count > 0, 100 * total / np.maximum(count, 1), np.nan)
