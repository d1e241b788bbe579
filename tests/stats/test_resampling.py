"""The within-cell tests: two-level paired bootstrap, approximate randomization, per-seed tests.

Checked against scipy (bootstrap, permutation_test, ttest_ind, wilcoxon, mannwhitneyu), against
brute force, and for calibration: false positives at about the nominal rate, real effects found.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mtlbench.stats.bootstrap import (
    MethodData,
    paired_bootstrap,
    percentile_interval,
    resample_weights,
    two_sided_p,
)
from mtlbench.stats.catalogue import METRICS, evaluate
from mtlbench.stats.features import Layout
from mtlbench.stats.randomization import paired_randomization, paired_runs, run_randomization, smallest_run_p
from mtlbench.stats.seedtests import few_seeds_warning, seed_test_p, smallest_p

ROUGE = METRICS["ROUGE_L"]  # a mean of per-example values: the simplest corpus metric
BLEU4 = METRICS["BLEU_4"]


def _mean_layout() -> tuple[Layout, list]:
    return Layout(ROUGE.blocks), [ROUGE]


def test_resample_weights_draw_n_examples_with_replacement() -> None:
    weights = resample_weights(np.random.default_rng(0), 50, 4000)
    assert weights.shape == (4000, 50) and np.all(weights.sum(axis=1) == 50)
    assert weights.mean() == pytest.approx(1.0) and weights.var() == pytest.approx(1 - 1 / 50, rel=0.03)


def test_bootstrap_interval_of_a_mean_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    x = rng.gamma(2.0, 0.2, size=300)
    layout, defs = _mean_layout()
    result = paired_bootstrap(
        layout, defs, [MethodData("m", (x[:, None],))], resamples=10_000, rng=np.random.default_rng(1)
    )
    low, high = percentile_interval(result.samples)
    reference = stats.bootstrap(
        (x,), np.mean, n_resamples=10_000, method="percentile", random_state=2
    ).confidence_interval
    width = reference.high - reference.low
    # two independent Monte Carlo estimates of the same quantiles: agree within 5% of the width
    assert abs(low[0, 0] - reference.low) < 0.05 * width and abs(high[0, 0] - reference.high) < 0.05 * width


def test_every_method_sees_the_same_resampled_examples() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(120, 1))
    shift = rng.normal(0, 0.3, size=(120, 1))  # a different offset on every example
    layout, defs = _mean_layout()
    methods = [MethodData("a", (x,)), MethodData("b", (x + shift,)), MethodData("c", (x,))]
    result = paired_bootstrap(layout, defs, methods, resamples=500, rng=np.random.default_rng(99), chunk=37)
    np.testing.assert_array_equal(result.samples[:, 0], result.samples[:, 2])
    # b - a on a resample is the mean offset over the SAME resampled examples: replay the draws
    replay = np.random.default_rng(99)
    weights = np.concatenate([resample_weights(replay, 120, min(37, 500 - i)) for i in range(0, 500, 37)])
    np.testing.assert_allclose(result.samples[:, 1, 0] - result.samples[:, 0, 0], weights @ shift[:, 0] / 120)


def test_the_seed_level_is_resampled_per_method_without_the_small_sample_bias() -> None:
    # every example of seed s scores s / 10: all variation is between seeds
    values = [np.full((40, 1), s / 10) for s in range(5)]
    layout, defs = _mean_layout()
    result = paired_bootstrap(layout, defs, [MethodData("m", tuple(values))], resamples=20_000,
                              rng=np.random.default_rng(3))  # fmt: skip
    unbiased = np.var([s / 10 for s in range(5)], ddof=1) / 5  # the variance of a mean of 5 seeds
    assert result.samples[:, 0, 0].var() == pytest.approx(unbiased, rel=0.05)
    plain = paired_bootstrap(layout, defs, [MethodData("m", tuple(values))], resamples=20_000,
                             rng=np.random.default_rng(3), rescale_seeds=False)  # fmt: skip
    assert plain.samples[:, 0, 0].var() == pytest.approx(unbiased * 4 / 5, rel=0.05)


def test_two_sided_p_counts_both_tails() -> None:
    assert two_sided_p(np.array([1.0, 2.0, 3.0, -1.0]))[()] == pytest.approx(2 * 2 / 5)
    assert two_sided_p(np.ones(99))[()] == pytest.approx(2 / 100)


def _bleu_rows(rng: np.random.Generator, n: int, quality: float) -> np.ndarray:
    testlen = rng.integers(8, 20, size=n)
    reflen = rng.integers(8, 20, size=n)
    guess = np.maximum(testlen[:, None] - np.arange(4), 0)
    correct = rng.binomial(guess, np.clip(quality * 0.8 ** np.arange(4), 0, 1))
    return np.column_stack([testlen, reflen, guess, correct]).astype(float)


def test_randomization_equals_brute_force_swapping_with_a_corpus_metric() -> None:
    rng = np.random.default_rng(4)
    a_runs = [_bleu_rows(rng, 30, 0.55) for _ in range(2)]
    b_runs = [_bleu_rows(rng, 30, 0.45) for _ in range(2)]
    layout = Layout(BLEU4.blocks)
    p = paired_randomization(layout, [BLEU4], a_runs, b_runs, rounds=300, rng=np.random.default_rng(7), chunk=300)

    def statistic(a: list[np.ndarray], b: list[np.ndarray]) -> float:
        score = [evaluate([BLEU4], layout.split(r.sum(0)), 30.0)[0] for r in (*a, *b)]
        return abs(np.mean(score[:2]) - np.mean(score[2:]))

    observed = statistic(a_runs, b_runs)
    swaps = np.random.default_rng(7).integers(0, 2, size=(300, 30)).astype(bool)
    reached = 0
    for swap in swaps:
        a = [np.where(swap[:, None], b, a) for a, b in zip(a_runs, b_runs)]
        b = [np.where(swap[:, None], a, b) for a, b in zip(a_runs, b_runs)]
        reached += statistic(a, b) >= observed - 1e-12
    assert p[0] == pytest.approx((reached + 1) / 301)


def test_randomization_matches_scipys_paired_permutation_test() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(0.5, 0.2, size=60)
    y = x + rng.normal(0.05, 0.2, size=60)
    layout, defs = _mean_layout()
    p = paired_randomization(layout, defs, [x[:, None]], [y[:, None]], rounds=20_000, rng=np.random.default_rng(1))
    reference = stats.permutation_test(
        (x, y),
        lambda a, b, axis=-1: np.abs(a.mean(axis=axis) - b.mean(axis=axis)),
        permutation_type="samples",
        alternative="greater",
        n_resamples=20_000,
        vectorized=True,
        rng=np.random.default_rng(2),
    ).pvalue
    assert 0.01 < reference < 0.5 and p[0] == pytest.approx(reference, abs=0.015)


def test_run_level_randomization_is_scipys_exact_paired_permutation_test() -> None:
    rng = np.random.default_rng(9)
    a = rng.normal(0.50, 0.02, size=(8, 2))  # 8 seed pairs, 2 metrics
    b = a + rng.normal(0.01, 0.02, size=(8, 2))
    p = run_randomization(a, b, rounds=0, rng=rng)  # 8 pairs: all 256 swaps enumerated
    for k in range(2):
        reference = stats.permutation_test(
            (a[:, k], b[:, k]),
            lambda x, y, axis=-1: np.abs(x.mean(axis=axis) - y.mean(axis=axis)),
            permutation_type="samples",
            alternative="greater",
            n_resamples=10**6,  # more than 2^8: scipy enumerates them all
            vectorized=True,
        ).pvalue
        assert p[k] == pytest.approx(reference, rel=1e-12)
    # a corpus statistic of the swapped means (Delta_m-like ratio) goes through ``extra``
    ratio = run_randomization(a, b, rounds=0, rng=rng, extra=lambda x, y: x[..., :1] / y[..., :1])
    np.testing.assert_array_equal(ratio[:2], p)
    assert smallest_run_p(3) == 0.25 and smallest_run_p(5) == 0.0625 and smallest_run_p(6) == 0.03125
    same_direction = run_randomization(np.ones((3, 1)), np.zeros((3, 1)), rounds=0, rng=rng)
    assert same_direction[0] == 0.25  # 3 pairs: even the clearest data cannot go lower


def test_runs_are_paired_by_seed_number() -> None:
    assert paired_runs([0, 1, 2], [2, 0, 5]) == [(0, 1), (2, 0)]
    assert paired_runs([3, 4], [7, 8, 9]) == [(0, 0), (1, 1)]


def _simulate(rng: np.random.Generator, effect: float, *, n: int = 80, seeds: int = 5, seed_sd: float = 0.03,
              noise: float = 0.1) -> list[MethodData]:  # fmt: skip
    """Two methods on shared example difficulties; each run adds a seed offset and its own noise."""
    difficulty = rng.normal(0.5, 0.15, size=n)
    return [
        MethodData(
            str(m),
            tuple(
                (difficulty + effect * m + rng.normal(0, seed_sd) + rng.normal(0, noise, size=n))[:, None]
                for _ in range(seeds)
            ),
            tuple(range(seeds)),
        )
        for m in range(2)
    ]


def test_bootstrap_calibration_same_distribution_rejected_at_about_the_nominal_rate_and_real_effect_found() -> None:
    layout, defs = _mean_layout()
    rng = np.random.default_rng(11)

    def rejected(effect: float) -> bool:
        result = paired_bootstrap(layout, defs, _simulate(rng, effect), resamples=400, rng=rng)
        return bool(two_sided_p(result.samples[:, 1, 0] - result.samples[:, 0, 0]) < 0.05)

    false_positives = sum(rejected(0.0) for _ in range(200))
    assert 0.02 <= false_positives / 200 <= 0.09
    assert sum(rejected(0.1) for _ in range(40)) >= 36


def test_randomization_calibration_without_seed_effects() -> None:
    layout, defs = _mean_layout()
    rng = np.random.default_rng(12)

    def rejected(effect: float) -> bool:
        a, b = _simulate(rng, effect, seeds=2, seed_sd=0.0)
        return bool(paired_randomization(layout, defs, a.runs, b.runs, rounds=400, rng=rng)[0] < 0.05)

    assert 0.02 <= sum(rejected(0.0) for _ in range(400)) / 400 <= 0.09
    assert sum(rejected(0.06) for _ in range(40)) >= 36


def test_per_seed_tests_are_scipys_and_know_their_floors() -> None:
    a = np.array([[0.31, 1.0], [0.33, 1.0], [0.36, 1.0], [0.30, 1.0]])
    b = np.array([[0.28, 1.0], [0.27, 1.0], [0.29, 1.0]])
    welch = seed_test_p("welch", a, b, [0, 1, 2, 3], [0, 1, 2])
    assert welch[0] == pytest.approx(stats.ttest_ind(a[:, 0], b[:, 0], equal_var=False).pvalue) and welch[1] == 1.0
    wilcoxon = seed_test_p("wilcoxon", a, b, [0, 1, 2, 3], [0, 1, 2])  # 3 pairs by seed number
    assert wilcoxon[0] == pytest.approx(stats.wilcoxon(a[:3, 0] - b[:, 0]).pvalue) == 0.25
    mann_whitney = seed_test_p("mannwhitney", a, b, [0, 1, 2, 3], [0, 1, 2])
    assert mann_whitney[0] == pytest.approx(stats.mannwhitneyu(a[:, 0], b[:, 0]).pvalue)
    # the floors are attained: all pairs in one direction
    assert smallest_p("wilcoxon", 5, 5, 5) == stats.wilcoxon(np.arange(1, 6)).pvalue == 0.0625
    assert smallest_p("wilcoxon", 6, 6, 6) == pytest.approx(0.03125)
    assert smallest_p("mannwhitney", 3, 3, 0) == pytest.approx(stats.mannwhitneyu([1, 2, 3], [4, 5, 6]).pvalue)
    assert "nothing can be significant at alpha 0.05" in few_seeds_warning("wilcoxon", 5, 5, 5, 0.05, 1)
    assert few_seeds_warning("wilcoxon", 6, 6, 6, 0.05, 1) == ""
    assert "after Holm over this table" in few_seeds_warning("wilcoxon", 6, 6, 6, 0.05, 14)
    assert few_seeds_warning("mannwhitney", 5, 5, 0, 0.05, 1) == ""
    assert "little power" in few_seeds_warning("welch", 3, 3, 3, 0.05, 1)
