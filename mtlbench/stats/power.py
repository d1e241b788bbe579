"""Power of the crossed-design t-test, the minimum detectable effect, and how many seeds or test
examples a study needs (Cohen 1988, with noncentral t distributions for few seeds).

For a difference of two methods with S seeds each on n test examples, per metric:

    Var(D) = sum_m (seed_m + noise_m n0 / n) / S + interaction n0 / n

where, measured on a pilot with n0 test examples, ``seed_m`` is the pure run-to-run variance of a
method's full-test-set value, ``noise_m`` one run's own test-set noise (it shrinks as 1/n) and
``interaction`` the test-set part of the difference (method-by-example interaction, also 1/n).
The test rejects when |D| / SE exceeds its critical value c on Welch-Satterthwaite df; under a
true difference delta, D / SE follows a noncentral t with noncentrality delta / SD(D), so
power = P(|T| > c). Cross-checked by simulation in tests/stats/test_power.py and against the
per-example simulations of benchmarks/stats_calibration.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

BISECTION_STEPS = 60


def power(delta: np.ndarray, se: np.ndarray, df: np.ndarray, critical: np.ndarray) -> np.ndarray:
    """P(|T| > critical) for T noncentral t(df, delta / se) (normal for infinite df)."""
    arrays = np.broadcast_arrays(*(np.asarray(x, float) for x in (delta, se, df, critical)))
    shape = arrays[0].shape
    delta, se, df, critical = (np.atleast_1d(a).ravel() for a in arrays)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(se > 0, np.abs(delta) / se, np.inf)
    finite = np.isfinite(df)
    out = np.asarray(stats.norm.sf(critical - shift) + stats.norm.cdf(-critical - shift), float)
    if finite.any():
        d, c, s = df[finite], critical[finite], np.minimum(shift[finite], 1e6)
        with np.errstate(all="ignore"):
            lower = np.nan_to_num(stats.nct.cdf(-c, d, s))  # scipy's lower tail is NaN far out, where it is ~0
        out[finite] = stats.nct.sf(c, d, s) + lower
    out = np.where(se > 0, out, np.where(delta != 0, 1.0, np.nan))
    return out.reshape(shape)


def critical_value(alpha: float, df: np.ndarray) -> np.ndarray:
    """The two-sided critical value of t with ``df`` at ``alpha``."""
    return stats.t.isf(alpha / 2, np.asarray(df, float))


def minimum_detectable_effect(se: np.ndarray, df: np.ndarray, critical: np.ndarray, target: float = 0.8) -> np.ndarray:
    """The smallest |delta| detected with probability ``target`` (bisection on :func:`power`)."""
    se, df, critical = np.broadcast_arrays(*(np.asarray(x, float) for x in (se, df, critical)))
    low = np.zeros(se.shape)
    high = np.where(np.isfinite(critical), (critical + 10.0) * se, np.nan)
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        enough = power(middle, se, df, critical) >= target
        high = np.where(enough, middle, high)
        low = np.where(enough, low, middle)
    return np.where(np.isnan(se) | np.isnan(critical), np.nan, high)


@dataclass(frozen=True)
class Design:
    """Variance components of one metric's difference, per run and measured at ``examples`` (n0)."""

    seed: tuple[float, float]
    """Pure seed variance of one run, of each of the two methods."""
    noise: tuple[float, float]
    """One run's own test-set noise variance at n0, of each method."""
    interaction: float
    """Test-set variance of the difference of the two methods' seed means at n0 (noise excluded)."""
    examples: int

    def se_df(self, seeds: int, examples: int) -> tuple[float, float]:
        """SE of the difference and its Satterthwaite df with ``seeds`` each on ``examples`` examples."""
        scale = self.examples / examples
        parts = [(a + v * scale) / seeds for a, v in zip(self.seed, self.noise)]
        variance = sum(parts) + self.interaction * scale
        denominator = sum(p**2 for p in parts) / max(seeds - 1, 1)
        df = variance**2 / denominator if denominator > 0 else np.inf
        return float(np.sqrt(variance)), float(df)

    def power(self, delta: float, seeds: int, examples: int, alpha: float) -> float:
        se, df = self.se_df(seeds, examples)
        return float(power(delta, se, df, critical_value(alpha, df)))

    def seeds_needed(self, delta: float, examples: int, alpha: float, target: float, most: int) -> int | None:
        """The fewest seeds (2..most) reaching ``target`` power on ``examples``, or None."""
        for seeds in range(2, most + 1):
            if self.power(delta, seeds, examples, alpha) >= target:
                return seeds
        return None

    def examples_needed(self, delta: float, seeds: int, alpha: float, target: float, most: int) -> int | None:
        """The fewest test examples (up to ``most``) reaching ``target`` power with ``seeds``, or None."""
        if self.power(delta, seeds, most, alpha) < target:
            return None
        low, high = 1, most
        while low < high:
            middle = (low + high) // 2
            if self.power(delta, seeds, middle, alpha) >= target:
                high = middle
            else:
                low = middle + 1
        return low
