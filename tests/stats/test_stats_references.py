"""The statistics against independent implementations: scipy, scikit-posthocs, pycocoevalcap."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scikit_posthocs as sp
from pycocoevalcap.bleu.bleu import Bleu
from scipy import stats

from mtlbench.stats.across import delta_m, friedman, holm, nemenyi, nemenyi_cd, wilcoxon_holm
from mtlbench.stats.bootstrap import MethodData, paired_bootstrap, percentile_interval
from mtlbench.stats.catalogue import METRICS
from mtlbench.stats.corpus import bleu
from mtlbench.stats.features import Layout

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


def test_friedman_and_iman_davenport_match_scipy() -> None:
    result = friedman(SCORES)
    chi2, p = stats.friedmanchisquare(*SCORES.T)
    assert result.chi2 == pytest.approx(chi2) and result.p_chi2 == pytest.approx(p)
    n, k = SCORES.shape
    f = (n - 1) * chi2 / (n * (k - 1) - chi2)
    assert result.iman_davenport == pytest.approx(f)
    assert result.p_iman_davenport == pytest.approx(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))


def test_wilcoxon_matches_scipy_then_holm() -> None:
    adjusted = wilcoxon_holm(SCORES)
    raw = [stats.wilcoxon(SCORES[:, i], SCORES[:, j]).pvalue for i in range(4) for j in range(i + 1, 4)]
    np.testing.assert_allclose(adjusted[np.triu_indices(4, 1)], holm(np.array(raw)))


def test_holm_on_a_hand_checked_example() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03, 0.005])), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm(np.array([0.5, np.nan, 0.9])), [1.0, np.nan, 1.0])  # 0.5*2, max(1.0, 0.9)


def test_nemenyi_matches_scikit_posthocs_and_demsars_critical_difference() -> None:
    expected = sp.posthoc_nemenyi_friedman(SCORES).to_numpy()
    np.testing.assert_allclose(nemenyi(SCORES), expected, atol=1e-6)
    # Demsar (2006), Table 5: q_0.05 = 2.569 for k = 4
    assert nemenyi_cd(4, 7) == pytest.approx(2.569 * math.sqrt(4 * 5 / (6 * 7)), abs=2e-3)


def test_delta_m_sign_convention() -> None:
    means = np.array([[0.5, 10.0], [0.55, 9.0]])
    # +10% on a higher-is-better metric, -10% on a lower-is-better one: both improvements
    np.testing.assert_allclose(delta_m(means, 0, np.array([True, False])), [0.0, 10.0])


def _mean_layout() -> tuple[Layout, list]:
    definition = METRICS["ROUGE_L"]
    return Layout(definition.blocks), [definition]


def test_bootstrap_interval_of_a_mean_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    x = rng.gamma(2.0, 0.2, size=300)
    layout, defs = _mean_layout()
    result = paired_bootstrap(
        layout, defs, [MethodData("m", (x[:, None],))], resamples=20_000, rng=np.random.default_rng(1)
    )
    low, high = percentile_interval(result.samples)
    reference = stats.bootstrap(
        (x,), np.mean, n_resamples=20_000, method="percentile", random_state=2
    ).confidence_interval
    width = reference.high - reference.low
    # two independent Monte Carlo estimates of the same quantiles: agree within 5% of the width
    assert abs(low[0, 0] - reference.low) < 0.05 * width and abs(high[0, 0] - reference.high) < 0.05 * width


def test_bleu_recomputed_from_stats_equals_pycocoevalcap_on_a_subset(shared_iu: Path) -> None:
    from mtlbench.metrics.nlg import bleu_stats

    folder = shared_iu / "sample_predictions"
    preds = json.loads((folder / "test_preds.json").read_text())
    refs = json.loads((folder / "test_refs.json").read_text())
    ids = sorted(preds)[::3]
    comps = bleu_stats([preds[i][0] for i in ids], [refs[i][0] for i in ids])
    matrix = np.array([[c["testlen"], c["reflen"], *c["guess"], *c["correct"]] for c in comps], float)
    expected, _ = Bleu(4).compute_score({i: refs[i] for i in ids}, {i: preds[i] for i in ids}, verbose=0)
    assert [float(bleu(matrix.sum(0), n)) for n in (1, 2, 3, 4)] == pytest.approx(expected, rel=1e-12)


def _simulate(rng: np.random.Generator, effect: float, n: int = 80, seeds: int = 3) -> list[MethodData]:
    difficulty = rng.normal(0.5, 0.15, size=n)
    methods = []
    for m in range(2):
        runs = tuple(
            (difficulty + (effect if m else 0.0) + rng.normal(0, 0.02) + rng.normal(0, 0.1, size=n))[:, None]
            for _ in range(seeds)
        )
        methods.append(MethodData(str(m), runs))
    return methods


def test_calibration_same_distribution_rejected_at_about_the_nominal_rate_and_real_effect_found() -> None:
    from mtlbench.stats.bootstrap import two_sided_p

    layout, defs = _mean_layout()
    rng = np.random.default_rng(11)
    rejections = 0
    for _ in range(200):
        result = paired_bootstrap(layout, defs, _simulate(rng, 0.0), resamples=300, rng=rng)
        rejections += two_sided_p(result.samples[:, 1, 0] - result.samples[:, 0, 0]) < 0.05
    assert 0.02 <= rejections / 200 <= 0.09
    detected = 0
    for _ in range(20):
        result = paired_bootstrap(layout, defs, _simulate(rng, 0.08), resamples=300, rng=rng)
        detected += two_sided_p(result.samples[:, 1, 0] - result.samples[:, 0, 0]) < 0.05
    assert detected >= 18
