"""The default within-cell test: a t-test on the crossed design's variance components.

t = D / SE with SE^2 from :func:`mtlbench.stats.components.contrast_variance` (seed part + example
part, each run's own test-set noise counted once) and Welch-Satterthwaite degrees of freedom
(seed part: S_m - 1 per method; example part: infinite). Where seeds dominate it is Welch's t on
per-run values; where the test set dominates it is the paired example bootstrap's z-test; in
between, Satterthwaite's approximation. Chosen by measurement over the alternatives
(benchmarks/stats_calibration.md): the old two-level percentile bootstrap rejected 9-13% of true
nulls at 3-5 seeds where seeds dominate and 1% where they do not; a studentized bootstrap-t over
3 seed values is unstable (Davison & Hinkley 1997, ch. 5); hierarchical resampling (Field &
Welsh 2007; Ren et al. 2010) inherits the thin tails of a 3-5 value percentile bootstrap.

Seeds are treated as independent between methods. In mtlbench, runs that share a seed number also
share the backbone's initialisation and the data order (common random numbers), so their values may
be positively correlated; the unpaired seed part then overstates the variance (the test errs on
the safe side). A seed-paired variant (the seed part from per-seed differences, S - 1 df) would gain
power where that correlation is strong and lose it where it is weak (t with 2 df at 3 seeds);
the run-level randomization test pairs by seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from mtlbench.stats.components import Components, ContrastVariance, contrast_variance


@dataclass(frozen=True)
class TTests:
    """Two-sided t-tests of contrasts ``[F]`` against 0."""

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    t: np.ndarray
    p: np.ndarray
    parts: ContrastVariance

    def half_width(self, level: float) -> np.ndarray:
        """Half-width of the per-comparison (unadjusted) ``level`` interval."""
        return stats.t.ppf(0.5 + level / 2, self.df) * self.se


def crossed_t(components: Components, contrasts: np.ndarray, estimates: np.ndarray) -> TTests:
    """t-tests of ``estimates`` [F] (the contrasts' point values) with their variance components.

    A contrast with no variance at all is "significant" only if it differs from 0 (t = +-inf);
    a NaN estimate gives NaN everywhere.
    """
    parts = contrast_variance(components, contrasts)
    estimates = np.asarray(estimates, float)
    se = np.sqrt(parts.variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, estimates / se, np.where(estimates == 0, 0.0, np.sign(estimates) * np.inf))
    t = np.where(np.isnan(estimates), np.nan, t)
    p = np.where(np.isnan(t), np.nan, 2 * stats.t.sf(np.abs(t), parts.df))
    return TTests(estimates, se, parts.df, t, p, parts)
