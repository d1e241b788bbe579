"""The Bayesian second opinion against baycomp, the reference implementation of Benavoli et al. (2017)."""

from __future__ import annotations

import baycomp
import numpy as np
import pytest
from baycomp.single import Posterior

from mtlbench.stats.bayes import oriented, signed_rank, t_posterior


@pytest.mark.parametrize(("mean", "var", "df", "rope"), [(0.8, 0.25, 4, 0.5), (-0.2, 1.3, 9, 1.0), (0.0, 0.0, 3, 0.5)])
def test_t_posterior_is_baycomps(mean: float, var: float, df: float, rope: float) -> None:
    expected = Posterior(mean, var, df, rope).probs()
    np.testing.assert_allclose(t_posterior(np.array(mean), np.array(np.sqrt(var)), np.array(df), np.array(rope)),
                               expected, atol=1e-12)  # fmt: skip


def test_the_correlated_t_test_is_a_t_posterior_with_its_own_correlation() -> None:
    """baycomp's CorrelatedTTest: rho = 1 / folds (Nadeau-Bengio); the crossed design estimates its rho."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(0.80, 0.02, 10), rng.normal(0.81, 0.02, 10)
    diff = y - x
    scale = np.sqrt(np.var(diff, ddof=1) * (1 / 10 + 1 / (10 - 1)))  # runs=1, 10 folds
    expected = baycomp.CorrelatedTTest.probs(x, y, rope=0.005)
    np.testing.assert_allclose(t_posterior(diff.mean(), scale, 9.0, 0.005), expected, atol=1e-12)


@pytest.mark.parametrize("rope", [0.0, 0.01])
def test_signed_rank_is_baycomps_draw_for_draw(rope: float) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0.5, 0.05, 8)
    y = x + rng.normal(0.01, 0.02, 8)
    expected = baycomp.SignedRankTest.probs(x, y, rope, nsamples=20_000, random_state=7)
    ours = signed_rank(y - x, rope, rng=np.random.RandomState(7), samples=20_000)
    if rope == 0:  # baycomp returns (left, right) without a rope
        expected = (expected[0], 0.0, expected[1])
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_better_follows_the_metrics_direction() -> None:
    probabilities = t_posterior(np.array(2.0), np.array(0.5), np.array(10.0), np.array(0.5))
    assert oriented(probabilities, True)[2] > 0.9 and oriented(probabilities, False)[0] > 0.9
