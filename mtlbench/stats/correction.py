"""Multiple-comparison corrections over a family of p-values (a table's comparisons).

A leaderboard makes many comparisons at once (every method x every metric against the
baseline); without a correction some of them come out "significant" by chance alone.
Step-down max-T (:mod:`mtlbench.stats.maxt`, the default with the crossed test) and Holm control
the family-wise error rate, max-T with more power where comparisons are correlated;
Benjamini-Hochberg controls the false discovery rate and suits exploratory scans. NaN marks
"no comparison" and is left out of the family.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import false_discovery_control

from mtlbench.errors import MtlbenchError

CORRECTIONS = ("maxt", "holm", "bh")
CORRECTION_NAMES = {"maxt": "step-down max-T", "holm": "Holm", "bh": "Benjamini-Hochberg"}


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


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), NaNs left out of the family."""
    p = np.asarray(p_values, float)
    flat = p.reshape(-1)
    out = np.full_like(flat, np.nan)
    finite = ~np.isnan(flat)
    if finite.any():
        out[finite] = false_discovery_control(flat[finite], method="bh")
    return out.reshape(p.shape)


def correct(p_values: np.ndarray, method: str) -> np.ndarray:
    """Adjusted p-values of one family by ``method`` ("holm" or "bh"; max-T needs more than p-values)."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    raise MtlbenchError(f"unknown correction {method!r}; choose one of {', '.join(CORRECTIONS)}")
