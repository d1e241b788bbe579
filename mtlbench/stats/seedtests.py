"""Tests on per-seed values only (one corpus figure per run), and what they can and cannot show.

They treat each seed's corpus metric as one observation and ignore the test-set sampling
variation. With the 3-5 seeds of a typical grid they are weak, and the rank tests cannot reach
significance at all: the smallest two-sided p-value of Wilcoxon's signed-rank test with n pairs
is 2 / 2^n (0.0625 for 5 pairs), Mann-Whitney's with n and m runs is 2 / C(n + m, n) (0.10 for
3 vs 3). :func:`few_seeds_warning` says so whenever it applies, Holm's first step included.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

from mtlbench.stats.randomization import paired_runs

SEED_TESTS = ("welch", "wilcoxon", "mannwhitney")
SEED_TEST_NAMES = {
    "welch": "Welch's t-test on per-seed values",
    "wilcoxon": "Wilcoxon signed-rank test on per-seed values paired by seed",
    "mannwhitney": "Mann-Whitney U test on per-seed values",
}
WELCH_FEW = 5
"""Below this many seeds per method, Welch's t rests mostly on its normality assumption."""


def seed_test_p(test: str, a: np.ndarray, b: np.ndarray, a_seeds: list[int], b_seeds: list[int]) -> np.ndarray:
    """Two-sided p-values ``[K]`` of ``test`` on per-seed values a ``[S_a, K]`` vs b ``[S_b, K]``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    out = np.full(a.shape[1], np.nan)
    for k in range(a.shape[1]):
        x, y = a[:, k], b[:, k]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if test == "welch":
                if len(x) < 2 or len(y) < 2:
                    continue
                if np.ptp(x) == 0 and np.ptp(y) == 0:
                    out[k] = 1.0 if x[0] == y[0] else 0.0
                    continue
                out[k] = stats.ttest_ind(x, y, equal_var=False).pvalue
            elif test == "wilcoxon":
                pairs = paired_runs(a_seeds, b_seeds)
                diff = np.array([x[i] - y[j] for i, j in pairs])
                if len(diff) == 0:
                    continue
                out[k] = 1.0 if np.all(diff == 0) else stats.wilcoxon(diff).pvalue
            elif test == "mannwhitney":
                out[k] = stats.mannwhitneyu(x, y, alternative="two-sided").pvalue
            else:
                raise ValueError(f"unknown per-seed test {test!r}; choose one of {', '.join(SEED_TESTS)}")
    return out


def smallest_p(test: str, n_a: int, n_b: int, n_pairs: int) -> float:
    """The smallest two-sided p-value ``test`` can give with these numbers of runs (0 if unbounded)."""
    if test == "wilcoxon":
        return min(1.0, 2.0 / 2**n_pairs) if n_pairs else 1.0
    if test == "mannwhitney":
        return min(1.0, 2.0 / math.comb(n_a + n_b, n_a)) if n_a and n_b else 1.0
    return 0.0


def few_seeds_warning(test: str, n_a: int, n_b: int, n_pairs: int, alpha: float, family: int) -> str:
    """Why this comparison cannot (or can hardly) be significant, or "" when it can."""
    name = SEED_TEST_NAMES[test].split(" on ")[0]
    if test == "welch":
        if min(n_a, n_b) < 2:
            return f"{name} needs at least 2 seeds per method"
        if min(n_a, n_b) < WELCH_FEW:
            return (
                f"{name} with {min(n_a, n_b)} seeds rests on normal per-seed values and has little power; "
                "use 5 or more seeds"
            )
        return ""
    floor = smallest_p(test, n_a, n_b, n_pairs)
    runs = f"{n_pairs} paired seeds" if test == "wilcoxon" else f"{n_a} vs {n_b} seeds"
    if floor >= alpha:
        return f"{name} with {runs} cannot go below p = {floor:.3g}: nothing can be significant at alpha {alpha}"
    if family > 1 and floor > alpha / family:
        return (
            f"{name} with {runs} cannot go below p = {floor:.3g}, above alpha/{family} = {alpha / family:.3g}: "
            "after Holm over this table nothing can be significant"
        )
    return ""
