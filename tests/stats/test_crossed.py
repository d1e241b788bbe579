"""The crossed-design t-test: its variance components against known truths, and its limits
(Welch's t where only seeds vary, the bootstrap z-test with one seed per method)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mtlbench.stats import Settings
from mtlbench.stats.across import delta_m
from mtlbench.stats.bootstrap import MethodData, paired_bootstrap
from mtlbench.stats.catalogue import METRICS
from mtlbench.stats.cells import analyse
from mtlbench.stats.components import contrast_covariance, contrast_variance, difference, estimate, linearised
from mtlbench.stats.crossed import crossed_t
from mtlbench.stats.features import Layout
from mtlbench.stats.store import scan

ROUGE = METRICS["ROUGE_L"]
LAYOUT = Layout(ROUGE.blocks)


def _method(name: str, runs: list[np.ndarray]) -> MethodData:
    return MethodData(name, tuple(r[:, None] for r in runs), tuple(range(len(runs))))


def test_with_only_seed_variation_it_is_welchs_t() -> None:
    """Every example of a run scores the run's value: no test-set variation, so Welch's t exactly."""
    rng = np.random.default_rng(0)
    a_values, b_values = rng.normal(0.5, 0.03, 4), rng.normal(0.47, 0.05, 3)
    methods = [_method("a", [np.full(50, v) for v in a_values]), _method("b", [np.full(50, v) for v in b_values])]
    boot = paired_bootstrap(LAYOUT, [ROUGE], methods, resamples=300, rng=rng, resample_seeds=False)
    tests = crossed_t(estimate(boot), difference(2, 1, 0, 1, 0)[None], boot.point[0] - boot.point[1])
    welch = stats.ttest_ind(a_values, b_values, equal_var=False)
    assert tests.p[0] == pytest.approx(welch.pvalue, rel=1e-9)
    assert tests.t[0] == pytest.approx(welch.statistic, rel=1e-9) and tests.df[0] == pytest.approx(welch.df, rel=1e-9)
    assert tests.parts.seed_share[0] == pytest.approx(1.0)


def test_with_one_seed_per_method_it_is_the_paired_bootstrap_z_test() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(size=400)
    y = np.clip(x + rng.normal(0.02, 0.15, 400), 0, 1)
    boot = paired_bootstrap(LAYOUT, [ROUGE], [_method("a", [y]), _method("b", [x])], resamples=4000, rng=rng)
    tests = crossed_t(estimate(boot), difference(2, 1, 0, 1, 0)[None], boot.point[0] - boot.point[1])
    assert np.isinf(tests.df[0]) and tests.parts.seed_share[0] == 0.0
    reference = stats.bootstrap((y - x,), np.mean, n_resamples=4000, random_state=2).standard_error
    assert tests.se[0] == pytest.approx(reference, rel=0.05)  # two Monte-Carlo estimates of the same SE
    assert tests.p[0] == pytest.approx(2 * stats.norm.sf(abs(tests.estimate[0]) / tests.se[0]), rel=1e-12)


def test_each_runs_test_set_noise_is_counted_once() -> None:
    """x[m, s, i] = interaction[m, i] + noise[m, s, i]: the truth is known, component by component."""
    rng = np.random.default_rng(2)
    n, seeds, interaction_sd, noise_sd = 2000, 4, 0.3, 0.5
    methods = []
    for name in "ab":
        interaction = rng.normal(0, interaction_sd, n)
        methods.append(_method(name, [0.5 + interaction + rng.normal(0, noise_sd, n) for _ in range(seeds)]))
    boot = paired_bootstrap(LAYOUT, [ROUGE], methods, resamples=3000, rng=rng, resample_seeds=False)
    parts = contrast_variance(estimate(boot), difference(2, 1, 0, 1, 0)[None])
    noise = 2 * noise_sd**2 / (n * seeds)  # each run's own noise, in the difference of seed means
    assert parts.noise[0] == pytest.approx(noise, rel=0.12)
    assert parts.examples[0] == pytest.approx(2 * interaction_sd**2 / n, rel=0.12)
    # the seed part holds the runs' noise once (no seed effect here), the old two-level bootstrap held it twice
    assert parts.seed[0] == pytest.approx(noise, rel=0.6)  # 6 df: a rough estimate, which is why t has 6-ish df
    assert parts.variance[0] == pytest.approx(parts.seed[0] + 2 * interaction_sd**2 / n, rel=0.12)


def test_delta_m_is_linearised_with_its_own_gradient() -> None:
    point = np.array([[0.30, 0.50, 0.20], [0.25, 0.40, 0.25]])  # method 0 against baseline 1
    higher, tasks = [True, True, False], ["A", "A", "B"]

    def function(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return delta_m(x, y, higher, tasks)

    gradient = linearised(function, point, 0, 1)
    sign, weight = np.array([1, 1, -1.0]), np.array([0.5, 0.5, 1.0]) / 2  # mean over a task's metrics, then tasks
    base = point[1]
    np.testing.assert_allclose(gradient[0], 100 * weight * sign / base, rtol=1e-6)
    np.testing.assert_allclose(gradient[1], -100 * weight * sign * point[0] / base**2, rtol=1e-6)


def test_intervals_agree_with_the_daggers(store: Path) -> None:
    holm = Settings(resamples=1000, correction="holm")
    (result,), _ = analyse(scan(store), holm)
    others = slice(1, None)
    excludes = (result.diff_low[others] > 0) | (result.diff_high[others] < 0)
    np.testing.assert_array_equal(excludes, result.p_raw[others] < 0.05)  # per-comparison 95% interval, same t
    (simultaneous,), _ = analyse(scan(store), replace(holm, correction="maxt"))
    outside = (simultaneous.diff_low[others] > 0) | (simultaneous.diff_high[others] < 0)
    assert np.all(simultaneous.significant[others][outside])  # single-step interval off 0 => step-down dagger
    width = simultaneous.diff_high - simultaneous.diff_low
    assert np.all(width[others] >= (result.diff_high - result.diff_low)[others] - 1e-12)


def test_the_seed_part_between_metrics_can_be_left_out_of_the_correlation() -> None:
    """Two metrics whose run values move together across seeds: their contrasts covary through the seeds."""
    rng = np.random.default_rng(3)
    values = rng.normal(0, 0.05, (5, 2)) @ np.array([[1.0, 0.9], [0.0, 0.3]]) + 0.5  # [seeds, metrics]
    layout = Layout(("rouge_l", "cider"))
    defs = [METRICS["ROUGE_L"], METRICS["CIDEr"]]
    runs = tuple(np.tile(v, (30, 1)) for v in values)  # no test-set variation at all
    method = MethodData("a", runs, tuple(range(5)))
    boot = paired_bootstrap(layout, defs, [method], resamples=200, rng=rng, resample_seeds=False)
    components = estimate(boot)
    contrasts = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # each metric's mean
    full = contrast_covariance(components, contrasts)
    assert full[0, 1] == pytest.approx(np.cov(values, rowvar=False)[0, 1] / 5, rel=1e-6)
    assert contrast_covariance(components, contrasts, seed_cross_metric=False)[0, 1] == pytest.approx(0, abs=1e-15)
