"""Power of the crossed-design t-test: the analytic formula against a simulation through the real
test, the minimum detectable effect, and `mtlbench plan`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mtlbench.cli import cli
from mtlbench.stats.bootstrap import MethodData, paired_bootstrap
from mtlbench.stats.catalogue import METRICS
from mtlbench.stats.components import difference, estimate
from mtlbench.stats.crossed import crossed_t
from mtlbench.stats.features import Layout
from mtlbench.stats.power import Design, critical_value, minimum_detectable_effect, power

ROUGE = METRICS["ROUGE_L"]


def test_analytic_power_matches_a_simulation_through_the_test() -> None:
    """Runs with a seed offset, a method-by-example interaction and per-run noise; 400 replicates."""
    rng = np.random.default_rng(0)
    n, seeds, seed_sd, interaction_sd, noise_sd, delta = 200, 4, 0.02, 0.2, 0.3, 0.065
    design = Design((seed_sd**2,) * 2, (noise_sd**2 / n,) * 2, 2 * interaction_sd**2 / n, n)
    expected = design.power(delta, seeds, n, 0.05)
    assert 0.4 < expected < 0.8  # a regime where the simulation can tell formulas apart
    rejected = 0
    for _ in range(400):
        methods = []
        for m, shift in enumerate((delta, 0.0)):
            interaction = rng.normal(0, interaction_sd, n)
            runs = tuple(
                (0.5 + shift + interaction + rng.normal(0, seed_sd) + rng.normal(0, noise_sd, n))[:, None]
                for _ in range(seeds)
            )
            methods.append(MethodData(str(m), runs, tuple(range(seeds))))
        boot = paired_bootstrap(Layout(ROUGE.blocks), [ROUGE], methods, resamples=200, rng=rng, resample_seeds=False)
        tests = crossed_t(estimate(boot), difference(2, 1, 0, 1, 0)[None], boot.point[0] - boot.point[1])
        rejected += bool(tests.p[0] < 0.05)
    assert rejected / 400 == pytest.approx(expected, abs=0.075)  # 3 Monte-Carlo standard errors


def test_the_minimum_detectable_effect_has_the_target_power() -> None:
    se, df = np.array([0.5, 1.0, 2.0]), np.array([3.0, 12.0, np.inf])
    critical = critical_value(0.05 / 7, df)
    mde = minimum_detectable_effect(se, df, critical, 0.8)
    np.testing.assert_allclose(power(mde, se, df, critical), 0.8, atol=1e-6)
    assert mde[2] == pytest.approx((critical[2] + 0.8416) * 2.0, rel=0.01)  # z-test: (z_{1-a/2} + z_{0.8}) x SE


def test_seeds_and_examples_needed_are_the_smallest_that_reach_the_power() -> None:
    design = Design((0.4, 0.6), (0.2, 0.2), 0.05, 1000)
    seeds = design.seeds_needed(1.0, 1000, 0.05, 0.8, 100)
    assert seeds is not None and design.power(1.0, seeds, 1000, 0.05) >= 0.8 > design.power(1.0, seeds - 1, 1000, 0.05)
    examples = design.examples_needed(1.0, 20, 0.05, 0.8, 10**6)
    assert examples is not None and design.power(1.0, 20, examples, 0.05) >= 0.8
    assert design.power(1.0, 20, examples - 1, 0.05) < 0.8
    assert design.examples_needed(1.0, 2, 0.05, 0.8, 10**6) is None  # 2 seeds: the seed part alone is too large


def test_plan_command_reads_a_pilot(store: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", str(store), "--delta", "BLEU_4=2", "--delta", "delta_m=5",
                                      "--resamples", "300"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "seeds needed (n=150)" in result.output and "BLEU-4" in result.output and "Δm%" in result.output
    assert "power 0.8 to detect an absolute difference" in result.output
    bad = CliRunner().invoke(cli, ["plan", str(store), "--delta", "BLEU_4"])
    assert bad.exit_code != 0 and "--delta 'BLEU_4': give METRIC=POINTS" in bad.output and "Traceback" not in bad.output
