"""A Bayesian second opinion with a region of practical equivalence (Benavoli, Corani, Demsar &
Zaffalon 2017, "Time for a change", JMLR 18(77)).

Instead of "is the difference exactly 0?", ask how probable it is that a method is practically
worse (difference below -rope), practically equivalent (within +-rope) or practically better
(above +rope) than the baseline, "better" following each metric's direction. The ROPE is a
stated, per-metric default (:data:`mtlbench.stats.settings.ROPE`), never tuned after the fact.

Within a cell: the posterior of the true difference under the non-informative prior of the
crossed design's normal model is Student's t with the test's estimate, standard error and
Welch-Satterthwaite df; it is the Bayesian correlated t-test of Corani & Benavoli (2015) with the
correlation between runs (here: the shared test set) estimated from the variance components
instead of Nadeau & Bengio's 1/k heuristic. Probabilities come from the t distribution function,
as in baycomp's ``Posterior.probs``.

Across cells: the Bayesian signed-rank test (Benavoli et al. 2014) over independent blocks,
i.e. cells: a Dirichlet process posterior (prior strength 0.5 at 0, baycomp's default) on the
differences, sampled; for each posterior sample the weight of Walsh averages below -rope, within,
and above +rope; reported: the share of samples in which each region weighs most.

Computed here with numpy and scipy (checked against baycomp in tests/stats/test_bayes.py):
baycomp is a small library but imports matplotlib and is outside the product's named dependencies.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

SIGNED_RANK_PRIOR = 0.5
"""Weight of the Dirichlet process's pseudo-observation at 0 (baycomp 1.0's default)."""
SIGNED_RANK_SAMPLES = 50_000
"""Posterior samples of the signed-rank test (baycomp's default)."""


def t_posterior(estimate: np.ndarray, se: np.ndarray, df: np.ndarray, rope: np.ndarray) -> np.ndarray:
    """``[..., 3]`` P(difference < -rope), P(|difference| <= rope), P(difference > rope).

    The posterior is Student's t(df, estimate, se); with se = 0 it is a point mass.
    """
    estimate, se, df, rope = np.broadcast_arrays(*(np.asarray(x, float) for x in (estimate, se, df, rope)))
    with np.errstate(divide="ignore", invalid="ignore"):
        below = stats.t.cdf((-rope - estimate) / se, df)
        above = stats.t.sf((rope - estimate) / se, df)
    point = se == 0
    below = np.where(point, (estimate < -rope).astype(float), below)
    above = np.where(point, (estimate > rope).astype(float), above)
    out = np.stack([below, 1.0 - below - above, above], axis=-1)
    return np.where(np.isnan(estimate)[..., None], np.nan, out)


def oriented(probabilities: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """(worse, equivalent, better) from (below, within, above) for a metric's direction."""
    return probabilities if higher_is_better else probabilities[..., ::-1]


def signed_rank(
    differences: np.ndarray,
    rope: float,
    *,
    rng: np.random.RandomState | np.random.Generator,
    prior: float = SIGNED_RANK_PRIOR,
    samples: int = SIGNED_RANK_SAMPLES,
) -> np.ndarray:
    """``[3]`` the share of posterior samples in which below -rope, within +-rope, above +rope weighs most.

    ``differences`` [N]: one per independent block (method minus baseline). Walsh averages
    (z_i + z_j) / 2 over all pairs i, j (with i = j and the pseudo-observation at 0) are compared
    with +-rope, each weighted by the product of the two Dirichlet weights.
    """
    z = np.concatenate([[0.0], np.asarray(differences, float)])
    sums = z[:, None] + z[None, :]
    below = _heaviside(-sums, 2 * rope)
    above = _heaviside(sums, 2 * rope)
    concentration = np.ones(len(z))
    concentration[0] = prior
    weights = rng.dirichlet(concentration, samples)  # [samples, N + 1]
    p_below = np.einsum("si,ij,sj->s", weights, below, weights)
    p_above = np.einsum("si,ij,sj->s", weights, above, weights)
    regions = np.stack([p_below, 1.0 - p_below - p_above, p_above], axis=1)
    return np.bincount(regions.argmax(axis=1), minlength=3) / samples


def _heaviside(x: np.ndarray, threshold: float) -> np.ndarray:
    """1 above the threshold, 1/2 at it, 0 below (as baycomp)."""
    return (x > threshold).astype(float) + 0.5 * (x == threshold)
