"""Comparisons across cells (Demsar 2006): ranks, Friedman with Iman-Davenport, post-hoc tests, Delta_m%.

Rows of ``scores`` are blocks (cells: dataset x backbone x size x tasks), columns are methods;
higher is better (orient lower-is-better figures before calling). Ties share their mean rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Friedman:
    mean_ranks: np.ndarray
    """[k] mean rank of each method over the blocks (1 = best)."""
    chi2: float
    p_chi2: float
    iman_davenport: float
    """F statistic of Iman and Davenport's correction, with (k-1, (k-1)(N-1)) degrees of freedom."""
    p_iman_davenport: float


def ranks(scores: np.ndarray) -> np.ndarray:
    """[N, k] ranks within each block, 1 = best (highest), ties averaged."""
    return np.apply_along_axis(lambda row: stats.rankdata(-row), 1, np.asarray(scores, float))


def friedman(scores: np.ndarray) -> Friedman:
    """Friedman's test on [N blocks, k methods], with the Iman-Davenport F correction."""
    scores = np.asarray(scores, float)
    n, k = scores.shape
    r = ranks(scores)
    mean_ranks = r.mean(axis=0)
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(mean_ranks**2) - k * (k + 1) ** 2 / 4)
    p_chi2 = float(stats.chi2.sf(chi2, k - 1))
    denominator = n * (k - 1) - chi2
    f = (n - 1) * chi2 / denominator if denominator > 0 else math.inf
    p_f = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1))) if math.isfinite(f) else 0.0
    return Friedman(mean_ranks, float(chi2), p_chi2, float(f), p_f)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), NaNs left out of the family."""
    p = np.asarray(p_values, float)
    flat = p.reshape(-1)
    out = np.full_like(flat, np.nan)
    finite = np.flatnonzero(~np.isnan(flat))
    m = len(finite)
    if m:
        order = finite[np.argsort(flat[finite], kind="stable")]
        adjusted = np.minimum(np.maximum.accumulate((m - np.arange(m)) * flat[order]), 1.0)
        out[order] = adjusted
    return out.reshape(p.shape)


def wilcoxon_holm(scores: np.ndarray) -> np.ndarray:
    """[k, k] Holm-corrected p-values of pairwise Wilcoxon signed-rank tests over the blocks."""
    scores = np.asarray(scores, float)
    k = scores.shape[1]
    p = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(i + 1, k):
            diff = scores[:, i] - scores[:, j]
            p[i, j] = 1.0 if np.allclose(diff, 0) else float(stats.wilcoxon(scores[:, i], scores[:, j]).pvalue)
    upper = np.triu_indices(k, 1)
    adjusted = np.full((k, k), np.nan)
    adjusted[upper] = holm(p[upper])
    adjusted[(upper[1], upper[0])] = adjusted[upper]
    return adjusted


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of mean ranks: q_alpha sqrt(k (k + 1) / (6 N))."""
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6 * n)))


def nemenyi(scores: np.ndarray) -> np.ndarray:
    """[k, k] p-values of Nemenyi's all-pairs test from the mean ranks (as scikit-posthocs)."""
    scores = np.asarray(scores, float)
    n, k = scores.shape
    mean_ranks = ranks(scores).mean(axis=0)
    z = np.abs(mean_ranks[:, None] - mean_ranks[None, :]) / math.sqrt(k * (k + 1) / (6 * n))
    p = stats.studentized_range.sf(z * math.sqrt(2), k, np.inf)
    np.fill_diagonal(p, 1.0)
    return p


def delta_m(means: np.ndarray, baseline: int, higher_is_better: np.ndarray) -> np.ndarray:
    """Delta_m% of every method against the baseline (Maninis et al. 2019), positive = better:
    100 / K sum_k s_k (M_k - B_k) / B_k, with s_k = +1 for higher-is-better metrics and -1
    otherwise. Metrics whose baseline value is 0 are left out (the ratio is undefined)."""
    means = np.asarray(means, float)
    base = means[baseline]
    usable = np.abs(base) > 0
    sign = np.where(np.asarray(higher_is_better, bool), 1.0, -1.0)
    relative = sign[usable] * (means[:, usable] - base[usable]) / np.abs(base[usable])
    return 100 * relative.mean(axis=1) if usable.any() else np.zeros(means.shape[0])


def cd_diagram(methods: list[str], mean_ranks: np.ndarray, cd: float, path: str) -> None:
    """Demsar's critical-difference diagram as a PNG (needs the optional extra 'plots')."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError('the CD diagram needs matplotlib: pip install "mtlbench[plots]"') from err
    k = len(methods)
    order = np.argsort(mean_ranks)
    fig, ax = plt.subplots(figsize=(7, 1 + 0.3 * k))
    ax.set_xlim(k + 0.5, 0.5)
    ax.set_ylim(-k / 2 - 1, 1.5)
    ax.axhline(1, color="black", lw=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [1, 1.1], color="black", lw=1)
        ax.text(r, 1.2, str(r), ha="center", fontsize=8)
    for pos, idx in enumerate(order):
        y = -pos / 2
        ax.plot([mean_ranks[idx], mean_ranks[idx]], [1, y], color="gray", lw=0.8)
        ax.text(mean_ranks[idx], y - 0.2, f"{methods[idx]} ({mean_ranks[idx]:.2f})", ha="center", fontsize=8)
    ax.plot([1, 1 + cd], [1.45, 1.45], color="red", lw=2)
    ax.text(1 + cd / 2, 1.3, f"CD = {cd:.2f}", ha="center", fontsize=8, color="red")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
