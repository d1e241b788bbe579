"""Across-cell statistics and corrections against independent implementations: scipy, scikit-posthocs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scikit_posthocs as sp
from scipy import stats

from mtlbench.stats.across import cliques, delta_m, friedman, nemenyi, nemenyi_cd, nemenyi_q, ranks, wilcoxon_holm
from mtlbench.stats.correction import benjamini_hochberg, correct, holm

SCORES = np.array(
    [
        [0.81, 0.79, 0.83, 0.70],
        [0.62, 0.66, 0.65, 0.60],
        [0.91, 0.88, 0.93, 0.85],
        [0.55, 0.52, 0.58, 0.50],
        [0.72, 0.74, 0.75, 0.69],
        [0.67, 0.61, 0.70, 0.66],
        [0.88, 0.85, 0.90, 0.80],
    ]
)
TIED = np.array(
    [
        [0.5, 0.5, 0.4, 0.3, 0.3],
        [0.2, 0.6, 0.6, 0.1, 0.0],
        [0.7, 0.7, 0.7, 0.2, 0.9],
        [0.3, 0.4, 0.5, 0.4, 0.1],
        [0.6, 0.6, 0.2, 0.3, 0.2],
        [0.1, 0.3, 0.3, 0.3, 0.2],
    ]
)


@pytest.mark.parametrize("scores", [SCORES, TIED], ids=["no-ties", "ties"])
def test_friedman_and_iman_davenport_match_scipy(scores: np.ndarray) -> None:
    result = friedman(scores)
    chi2, p = stats.friedmanchisquare(*scores.T)
    assert result.chi2 == pytest.approx(chi2, rel=1e-12) and result.p_chi2 == pytest.approx(p, rel=1e-9)
    n, k = scores.shape
    f = (n - 1) * chi2 / (n * (k - 1) - chi2)  # Iman and Davenport (1980), Demsar (2006) eq. 2
    assert result.iman_davenport == pytest.approx(f, rel=1e-12)
    assert result.p_iman_davenport == pytest.approx(stats.f.sf(f, k - 1, (k - 1) * (n - 1)), rel=1e-9)
    np.testing.assert_allclose(result.mean_ranks, stats.rankdata(-scores, axis=1).mean(0))


def test_ranks_are_one_for_the_best_and_share_ties() -> None:
    np.testing.assert_array_equal(ranks(np.array([[0.3, 0.9, 0.3]])), [[2.5, 1.0, 2.5]])


@pytest.mark.parametrize("scores", [SCORES, TIED], ids=["no-ties", "ties"])
def test_wilcoxon_matches_scipy_and_scikit_posthocs_then_holm(scores: np.ndarray) -> None:
    k = scores.shape[1]
    adjusted = wilcoxon_holm(scores)
    raw = [stats.wilcoxon(scores[:, i], scores[:, j]).pvalue for i in range(k) for j in range(i + 1, k)]
    np.testing.assert_allclose(adjusted[np.triu_indices(k, 1)], holm(np.array(raw)), rtol=1e-12)
    np.testing.assert_allclose(adjusted, adjusted.T)
    if scores is SCORES:  # scikit-posthocs's own pairwise Wilcoxon with Holm
        expected = sp.posthoc_wilcoxon(scores.T.tolist(), p_adjust="holm").to_numpy()
        np.testing.assert_allclose(adjusted, expected, rtol=1e-9)


def test_holm_on_a_hand_checked_example() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03, 0.005])), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm(np.array([0.5, np.nan, 0.9])), [1.0, np.nan, 1.0])  # 0.5*2, max(1.0, 0.9)
    # at alpha 0.05 Holm rejects 0.005 (< 0.0125) and 0.01 (< 0.0167), then stops at 0.03 (> 0.025)
    assert list(holm(np.array([0.01, 0.04, 0.03, 0.005])) < 0.05) == [True, False, False, True]


def test_benjamini_hochberg_matches_scipy_and_skips_nans() -> None:
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0, 0.01, 5), rng.uniform(0, 1, 20)])
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p, method="bh"), rtol=1e-12)
    grid = np.array([[np.nan, 0.01], [0.04, 0.03]])
    expected = stats.false_discovery_control([0.01, 0.04, 0.03], method="bh")
    np.testing.assert_allclose(correct(grid, "bh"), [[np.nan, expected[0]], [expected[1], expected[2]]])


def test_nemenyi_matches_scikit_posthocs() -> None:
    for scores in (SCORES, TIED):
        expected = sp.posthoc_nemenyi_friedman(scores).to_numpy()
        np.testing.assert_allclose(nemenyi(scores), expected, atol=1e-6)


def test_critical_difference_matches_demsars_table_and_scikit_posthocs_verdicts() -> None:
    # Demsar (2006), Table 5a: q_0.05 for k = 2..10
    table = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
    np.testing.assert_allclose([nemenyi_q(k) for k in range(2, 11)], table, atol=1.5e-3)  # table rounds to 3 places
    assert nemenyi_cd(4, 7) == pytest.approx(2.569 * math.sqrt(4 * 5 / (6 * 7)), abs=2e-3)
    rng = np.random.default_rng(4)
    for _ in range(20):  # a mean-rank gap beyond the CD is exactly what scikit-posthocs calls significant
        scores = rng.normal(size=(12, 6)) + np.linspace(0, 1.5, 6)
        gaps = np.abs(np.subtract.outer(*(2 * [ranks(scores).mean(0)])))
        reference = sp.posthoc_nemenyi_friedman(scores).to_numpy()
        off = ~np.eye(6, dtype=bool)
        np.testing.assert_array_equal((gaps > nemenyi_cd(6, 12))[off], (reference < 0.05)[off])


def test_cliques_on_a_hand_checked_example() -> None:
    mean_ranks = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.ones((4, 4))
    p[0, 2] = p[2, 0] = p[0, 3] = p[3, 0] = p[1, 3] = p[3, 1] = 0.01  # 0~1, 1~2, 2~3 only
    assert cliques(mean_ranks, p, 0.05) == [(0, 1), (1, 2), (2, 3)]
    p[1, 3] = p[3, 1] = 1.0
    assert cliques(mean_ranks, p, 0.05) == [(0, 1), (1, 2, 3)]
    assert cliques(mean_ranks, np.full((4, 4), 0.001), 0.05) == []


def test_delta_m_sign_convention_and_task_averaging() -> None:
    # +10% on a higher-is-better metric, -10% on a lower-is-better one: both improvements
    assert delta_m(np.array([0.55, 9.0]), np.array([0.5, 10.0]), [True, False], ["a", "a"]) == pytest.approx(10.0)
    # task A: +10% and +30% -> +20%; task B: -4% -> mean over tasks +8%
    method, base = np.array([1.1, 1.3, 0.48]), np.array([1.0, 1.0, 0.5])
    assert delta_m(method, base, [True, True, True], ["A", "A", "B"]) == pytest.approx(8.0)
    # a metric whose baseline is 0 is left out, and with it task A: only B's +20% remains
    assert delta_m(np.array([0.2, 0.6]), np.array([0.0, 0.5]), [True, True], ["A", "B"]) == pytest.approx(20.0)
    # vectorised over leading axes
    out = delta_m(np.array([[1.1, 1.0], [0.9, 1.0]]), np.array([1.0, 1.0]), [True, True], ["A", "B"])
    np.testing.assert_allclose(out, [5.0, -5.0])
