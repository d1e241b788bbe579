"""Step-down max-T: a hand-computed example, its limits (Sidak-Holm, one comparison) and scipy's
multivariate normal for the parametric null."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mtlbench.stats.maxt import nearest_correlation, parametric_maxt, step_down


def test_step_down_on_a_hand_computed_example() -> None:
    observed = np.array([3.0, 1.0, 2.0, np.nan])  # the last one is not in the family
    null = np.array([[1.0, 0.5, 2.5, 9.0], [3.5, 0.2, 0.1, 9.0], [0.3, 2.5, 1.0, 9.0], [0.1, 0.2, 0.3, 9.0]])
    # ordered 3.0 (#0), 2.0 (#2), 1.0 (#1)
    # step 1, max over {0, 2, 1}: 2.5 3.5 2.5 0.3 -> 1 of 4 reach 3.0 -> (1 + 1) / 5 = 0.4
    # step 2, max over {2, 1}:   2.5 0.2 2.5 0.3 -> 2 reach 2.0       -> 3 / 5 = 0.6
    # step 3, {1}:               0.5 0.2 2.5 0.2 -> 1 reaches 1.0     -> 2 / 5 = 0.4, monotone -> 0.6
    np.testing.assert_allclose(step_down(observed, null), [0.4, 0.6, 0.6, np.nan])


def test_independent_comparisons_give_sidak_holm_and_identical_ones_the_raw_p() -> None:
    t = np.array([3.1, 2.2, 2.6, 0.4])
    df = np.full(4, np.inf)
    raw = 2 * stats.norm.sf(t)
    result = parametric_maxt(t, df, np.eye(4), alpha=0.05, draws=400_000, rng=np.random.default_rng(0))
    order = np.argsort(-t)
    sidak = 1 - (1 - raw[order]) ** (4 - np.arange(4))
    expected = np.empty(4)
    expected[order] = np.maximum.accumulate(sidak)
    np.testing.assert_allclose(result.adjusted, expected, atol=0.003)
    assert result.normal_critical == pytest.approx(stats.norm.isf((1 - 0.95 ** (1 / 4)) / 2), abs=0.02)
    same = parametric_maxt(t, df, np.ones((4, 4)), alpha=0.05, draws=400_000, rng=np.random.default_rng(1))
    np.testing.assert_allclose(same.adjusted, np.maximum.accumulate(raw[order])[np.argsort(order)], atol=0.003)


def test_the_parametric_null_is_scipys_bivariate_normal() -> None:
    rho, t = 0.6, np.array([2.4, 1.9])
    correlation = np.array([[1.0, rho], [rho, 1.0]])
    result = parametric_maxt(t, np.full(2, np.inf), correlation, alpha=0.05, draws=400_000,
                             rng=np.random.default_rng(2))  # fmt: skip
    mvn = stats.multivariate_normal(mean=[0, 0], cov=correlation)

    def both_below(c: float) -> float:
        return float(mvn.cdf([c, c], lower_limit=[-c, -c]))

    assert result.adjusted[0] == pytest.approx(1 - both_below(2.4), abs=0.003)
    assert result.adjusted[1] == pytest.approx(max(1 - both_below(2.4), 2 * stats.norm.sf(1.9)), abs=0.003)
    assert both_below(result.normal_critical) == pytest.approx(0.95, abs=0.002)  # simultaneous coverage


def test_few_degrees_of_freedom_widen_the_critical_values() -> None:
    result = parametric_maxt(np.array([5.0, 1.0]), np.array([3.0, np.inf]), np.eye(2), alpha=0.05, draws=100_000,
                             rng=np.random.default_rng(3))  # fmt: skip
    z = result.normal_critical
    assert result.critical[1] == pytest.approx(z)
    assert result.critical[0] == pytest.approx(stats.t.ppf(stats.norm.cdf(z), 3))
    assert result.adjusted[0] >= 2 * stats.t.sf(5.0, 3)  # never below the raw p


def test_nearest_correlation_repairs_an_estimate_that_is_not_positive_definite() -> None:
    bad = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    fixed = nearest_correlation(bad)
    assert np.linalg.eigvalsh(fixed).min() > -1e-12 and np.allclose(np.diag(fixed), 1.0)
    assert np.abs(fixed - bad).max() < 0.6
