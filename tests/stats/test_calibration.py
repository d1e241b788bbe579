"""Calibration where the old default failed: seed-to-seed variance dominates the test-set noise.

A cheaper twin of benchmarks/stats_calibration.py (seed-dominated, 3 seeds): 2,000 true nulls
through the same API calls `mtlbench report` makes. The new default (crossed) must reject in
[0.025, 0.065]; the old two-level percentile bootstrap, run on the same resamples, is shown to
fail here (about 12%), so a regression to it fails this test. The Monte-Carlo standard error of
a rate of 0.05 over 2,000 replicates is 0.005, so the band is 4 standard errors wide each way.
"""

from __future__ import annotations

import numpy as np
import pytest

from mtlbench.stats.bootstrap import MethodData, paired_bootstrap, two_sided_p
from mtlbench.stats.catalogue import METRICS
from mtlbench.stats.components import difference, estimate
from mtlbench.stats.crossed import crossed_t
from mtlbench.stats.features import Layout

DEFS = [METRICS["ROUGE_L"], METRICS["CE_F1_micro"]]  # a mean of per-example scores; F1 from summed TP/FP/FN
LAYOUT = Layout(("rouge_l", "ce_micro"))
REPLICATES, SEEDS, N = 2000, 3, 100


def _cell(rng: np.random.Generator) -> list[MethodData]:
    """Two identical methods: seed offsets (sd 0.5 on the logit) dwarf the test-set noise of 100 examples."""
    difficulty = rng.normal(0, 1, N)
    positives = rng.binomial(14, 0.3, N)
    methods = []
    for name in "ab":
        interaction = rng.normal(0, 0.2, N)
        latent = difficulty + interaction + rng.normal(0, 0.5, SEEDS)[:, None] + rng.normal(0, 0.3, (SEEDS, N))
        quality = 1 / (1 + np.exp(-latent))
        tp = rng.binomial(positives, quality)
        fp = rng.binomial(14 - positives, 0.2 * (1 - quality))
        runs = tuple(np.column_stack([quality[s], tp[s], fp[s], positives - tp[s]]).astype(float) for s in range(SEEDS))
        methods.append(MethodData(name, runs, tuple(range(SEEDS))))
    return methods


@pytest.mark.slow
def test_seed_dominated_nulls_new_default_calibrated_old_bootstrap_not() -> None:
    rng = np.random.default_rng(20261124)
    contrasts = np.array([difference(2, len(DEFS), 1, 0, k) for k in range(len(DEFS))])
    new = np.zeros(len(DEFS))
    old = np.zeros(len(DEFS))
    shares = []
    for _ in range(REPLICATES):
        boot = paired_bootstrap(LAYOUT, DEFS, _cell(rng), resamples=199, rng=rng)  # two levels: the old default
        tests = crossed_t(estimate(boot), contrasts, boot.point[1] - boot.point[0])
        new += tests.p < 0.05
        old += two_sided_p(boot.samples[:, 1] - boot.samples[:, 0]) < 0.05
        shares.append(tests.parts.pure_seed_share)
    assert np.all(np.mean(shares, axis=0) > 0.75)  # the regime is what it claims to be
    new_rate, old_rate = new / REPLICATES, old / REPLICATES
    assert np.all((new_rate >= 0.025) & (new_rate <= 0.065)), new_rate
    assert np.all(old_rate > 0.065), old_rate
