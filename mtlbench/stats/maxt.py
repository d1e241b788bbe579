"""Step-down max-T over a family of comparisons (Westfall & Young 1993, Algorithm 2.8).

Holm treats the comparisons of a table as if they could all be independent; BLEU-1..4 or the
P/R/F1 variants move together, and max-T turns that correlation into power while keeping the
family-wise error rate. Order the observed |t| from the largest; the adjusted p of the i-th is the
share of null draws whose maximum over the comparisons not yet rejected (the i-th and those
below it) reaches it, made monotone.

The null draws here are parametric, as multcomp draws them for linear models (Hothorn, Bretz &
Westfall 2008): each comparison's t (with its own Welch-Satterthwaite df) is mapped to the normal
scale through its p-value (a Gaussian copula), and the joint null is N(0, R) with R the
comparisons' correlation estimated from the cell's variance components. The same max
distribution gives single-step simultaneous intervals: its 1 - alpha quantile c on the normal
scale is c_j = t_{df_j} quantile of Phi(c) on each comparison's own scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


def step_down(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Adjusted p-values of Westfall-Young's step-down max-T.

    ``observed`` [F]: the observed |statistics| (NaN: not in the family); ``null`` [B, F]: the
    |statistics| of B draws under the complete null. p = (count + 1) / (B + 1), never 0.
    """
    observed = np.asarray(observed, float)
    out = np.full(observed.shape, np.nan)
    members = np.flatnonzero(~np.isnan(observed))
    if members.size == 0:
        return out
    order = members[np.argsort(-observed[members], kind="stable")]
    draws = np.abs(np.asarray(null, float)[:, order])
    successive = np.maximum.accumulate(draws[:, ::-1], axis=1)[:, ::-1]  # max over the i-th and below
    counts = (successive >= observed[order] - 1e-12 * np.maximum(observed[order], 1.0)).sum(axis=0)
    adjusted = (counts + 1) / (draws.shape[0] + 1)
    out[order] = np.maximum.accumulate(adjusted)
    return out


def normal_scale(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """|t| with ``df`` degrees of freedom as the |z| of the same two-sided p-value."""
    return stats.norm.isf(stats.t.sf(np.abs(t), df))


def nearest_correlation(matrix: np.ndarray) -> np.ndarray:
    """A valid correlation matrix near ``matrix`` (negative eigenvalues clipped, unit diagonal)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    fixed = (vectors * np.clip(values, 0.0, None)) @ vectors.T
    scale = np.sqrt(np.clip(np.diag(fixed), 1e-300, None))
    out = fixed / np.outer(scale, scale)
    np.fill_diagonal(out, 1.0)
    return out


def normal_draws(correlation: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """[draws, F] |Z| with Z ~ N(0, correlation)."""
    values, vectors = np.linalg.eigh(nearest_correlation(correlation))
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    return np.abs(rng.standard_normal((draws, len(values))) @ root.T)


@dataclass(frozen=True)
class MaxT:
    """A family's step-down adjusted p-values and single-step simultaneous critical values."""

    adjusted: np.ndarray
    """[F] adjusted p-values (NaN outside the family)."""
    critical: np.ndarray
    """[F] multiplier of each comparison's standard error for the simultaneous interval."""
    normal_critical: float
    """The 1 - alpha quantile of max |Z| over the family (the normal scale)."""
    size: int
    """Comparisons in the family."""


def parametric_maxt(
    t: np.ndarray,
    df: np.ndarray,
    correlation: np.ndarray,
    *,
    alpha: float,
    draws: int,
    rng: np.random.Generator,
) -> MaxT:
    """Step-down max-T of t-statistics ``[F]`` with their df and estimated correlation ``[F, F]``."""
    t, df = np.asarray(t, float), np.asarray(df, float)
    members = np.flatnonzero(~np.isnan(t))
    adjusted = np.full(t.shape, np.nan)
    critical = np.full(t.shape, np.nan)
    if members.size == 0:
        return MaxT(adjusted, critical, float("nan"), 0)
    z = normal_scale(t[members], df[members])
    null = normal_draws(np.asarray(correlation, float)[np.ix_(members, members)], draws, rng)
    raw = 2 * stats.t.sf(np.abs(t[members]), df[members])
    adjusted[members] = np.maximum(step_down(z, null), raw)
    normal_critical = float(np.quantile(null.max(axis=1), 1 - alpha))
    critical[members] = stats.t.ppf(stats.norm.cdf(normal_critical), df[members])
    return MaxT(adjusted, critical, normal_critical, int(members.size))
