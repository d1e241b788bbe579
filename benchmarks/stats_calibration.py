"""Calibration and power of every within-cell test of `mtlbench report`, by simulation.

Each replicate fabricates one leaderboard cell as a crossed design and runs mtlbench's own
statistics API on it (paired_bootstrap, components.estimate, crossed_t, run_randomization,
seed_test_p, maxt): two methods (four for the family-wise check), S seeds each, n = 3,858 test
examples (MIMIC-CXR's test set). Every run gets per-example sufficient statistics from a latent
quality on the logit scale,

    z[m, s, i] = difficulty[i] + interaction[m, i] + seed_offset[m, s] + noise[m, s, i] + effect[m],

drawn afresh for every replicate (a new test set, new methods, new seeds):

- ROUGE-L: the per-example value sigmoid(z) (additive: a mean of per-example scores);
- BLEU-4: n-gram guesses from a per-example report length, matches ~ Binomial(guesses,
  sigmoid(z) 0.7^order): corpus BLEU from summed counts (nonlinear);
- CE micro-F1: 14 labels, reference positives ~ Binomial(14, 0.2) per example, TP ~ Binomial(
  positives, sigmoid(z)), FP ~ Binomial(negatives, 0.15 (1 - sigmoid(z))): F1 = 2TP / (2TP + FP + FN)
  from summed counts (nonlinear).

Regimes (logit-scale standard deviations; see REGIMES): seed-dominated, example-dominated
(method-by-example interaction), mixed, run-noise (no seed effect and no interaction: only each
run's own example-level noise, where the old bootstrap counted the noise twice), and two nobody
would pick to flatter a test: heavy-tailed seed offsets (Student t with 3 df) and unequal seed
variances (the second method's seed sd twice the first's). The variance shares the tests actually
see are measured and printed.

Tests: every `--test` of `mtlbench report` (crossed: the new default; bootstrap: the old default;
randomization; welch; wilcoxon; mannwhitney) and two resampling alternatives measured before
choosing the default: the same two-level bootstrap without the sqrt(S/(S-1)) rescaling
(hierarchical resampling, Ren et al. 2010) and a studentized two-level bootstrap (bootstrap-t:
each resample divided by its own standard error; Davison & Hinkley 1997, ch. 5).

Run:  .venv/bin/python benchmarks/stats_calibration.py --out benchmarks/stats_calibration.md
      (--quick for a smoke run with few replicates; --workers 2 on an idle 2-core machine)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from mtlbench.stats.bootstrap import MethodData, paired_bootstrap, two_sided_p
from mtlbench.stats.catalogue import METRICS
from mtlbench.stats.components import contrast_covariance, difference, estimate
from mtlbench.stats.correction import holm
from mtlbench.stats.crossed import crossed_t
from mtlbench.stats.features import Layout
from mtlbench.stats.maxt import parametric_maxt
from mtlbench.stats.power import power as analytic_power
from mtlbench.stats.randomization import paired_randomization, run_randomization
from mtlbench.stats.seedtests import seed_test_p

N_EXAMPLES = 3858
ALPHA = 0.05
DEFS = [METRICS["ROUGE_L"], METRICS["BLEU_4"], METRICS["CE_F1_micro"]]
METRIC_NAMES = ["ROUGE-L (additive)", "BLEU-4 (n-gram counts)", "CE micro-F1 (TP/FP/FN)"]
LAYOUT = Layout(("rouge_l", "bleu", "ce_micro"))
SEEDS = (3, 5, 10)
TESTS = (
    "crossed",
    "bootstrap",
    "randomization",
    "welch",
    "wilcoxon",
    "mannwhitney",
    "hierarchical",
    "bootstrap-t",
    "example-swaps",
)
TEST_LABELS = {
    "crossed": "crossed (new default)",
    "bootstrap": "bootstrap (old default)",
    "randomization": "randomization (whole runs)",
    "welch": "welch",
    "wilcoxon": "wilcoxon",
    "mannwhitney": "mannwhitney",
    "hierarchical": "two-level, no rescaling (alternative)",
    "bootstrap-t": "bootstrap-t (alternative)",
    "example-swaps": "example swaps across seeds (the former randomization)",
}


@dataclass(frozen=True)
class Regime:
    seed_sd: float
    interaction_sd: float
    noise_sd: float
    heavy_tails: bool = False
    """Seed offsets from Student's t with 3 df, scaled to the same sd."""
    seed_ratio: float = 1.0
    """The second method's seed sd over the first's."""
    independent_tasks: bool = False
    """CE gets its own seed offsets, independent of the NLG ones (the family check)."""


REGIMES = {
    "seed-dominated": Regime(seed_sd=0.05, interaction_sd=0.2, noise_sd=0.3),
    "example-dominated": Regime(seed_sd=0.0, interaction_sd=0.5, noise_sd=0.3),
    "mixed": Regime(seed_sd=0.018, interaction_sd=0.5, noise_sd=0.3),
    "run-noise": Regime(seed_sd=0.0, interaction_sd=0.0, noise_sd=1.0),
    "heavy-tailed seeds": Regime(seed_sd=0.05, interaction_sd=0.2, noise_sd=0.3, heavy_tails=True),
    "unequal seed variances": Regime(seed_sd=0.035, interaction_sd=0.2, noise_sd=0.3, seed_ratio=2.0),
}
FEW_SEEDS_FACTOR = 2
"""Null cells with 3 seeds get this many times the replicates: they sit nearest the band's lower edge
(Welch's t itself has size 0.034 with 3 normal values per side, 0.026 with Student-t(3) ones)."""
EFFECTS = (2.0, 3.0)
"""Effect sizes on the logit scale, in units of the regime's logit-scale sd of the difference at 5 seeds."""


def latent_sd(regime: Regime, seeds: int, n: int = N_EXAMPLES) -> float:
    """Logit-scale sd of the difference of two methods' seed means (no binomial noise)."""
    seed = regime.seed_sd**2 * (1 + regime.seed_ratio**2) / seeds
    return math.sqrt(seed + 2 * regime.interaction_sd**2 / n + 2 * regime.noise_sd**2 / (n * seeds))


def simulate(rng: np.random.Generator, regime: Regime, seeds: int, effects: list[float], n: int) -> list[MethodData]:
    """One cell: len(effects) methods x ``seeds`` runs, per-example statistics in LAYOUT."""
    difficulty = rng.normal(0.0, 1.0, n)
    length = rng.integers(20, 61, n)
    reference_length = np.maximum(length + rng.integers(-8, 9, n), 4)
    positives = rng.binomial(14, 0.2, n)
    guess = np.maximum(length[:, None] - np.arange(4), 0)
    order_factor = 0.7 ** np.arange(4)
    methods = []
    for m, effect in enumerate(effects):
        interaction = rng.normal(0.0, regime.interaction_sd, n)
        seed_sd = regime.seed_sd * (regime.seed_ratio if m == 1 else 1.0)
        offsets = _offsets(rng, regime, seed_sd, seeds)  # [2, S]: NLG and CE
        base = difficulty + interaction + effect + rng.normal(0.0, regime.noise_sd, (seeds, n))  # [S, n]
        nlg = _sigmoid(base + offsets[0][:, None])
        ce = _sigmoid(base + offsets[1][:, None])
        correct = rng.binomial(guess, nlg[:, :, None] * order_factor)  # [S, n, 4]
        tp = rng.binomial(positives, ce)
        fp = rng.binomial(14 - positives, 0.15 * (1 - ce))
        runs = tuple(
            np.column_stack(
                [nlg[s], length, reference_length, guess, correct[s], tp[s], fp[s], positives - tp[s]]
            ).astype(float)
            for s in range(seeds)
        )
        methods.append(MethodData(str(m), runs, tuple(range(seeds))))
    return methods


def _offsets(rng: np.random.Generator, regime: Regime, sd: float, seeds: int) -> np.ndarray:
    """[2, S] seed offsets of the NLG and the CE latent (the same unless the tasks are independent)."""

    def draw() -> np.ndarray:
        if regime.heavy_tails:
            return sd * rng.standard_t(3, seeds) / math.sqrt(3.0)
        return rng.normal(0.0, sd, seeds) if sd > 0 else np.zeros(seeds)

    first = draw()
    return np.stack([first, draw() if regime.independent_tasks else first])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def two_method_pvalues(
    methods: list[MethodData], resamples: int, rng: np.random.Generator, *, example_swaps: bool = True
) -> dict[str, np.ndarray]:
    """p-values [3 metrics] of every test for method 1 against method 0, and the crossed components."""
    seeds = len(methods[0].runs)
    boot = paired_bootstrap(LAYOUT, DEFS, methods, resamples=resamples, rng=rng, keep_runs=True)
    components = estimate(boot)
    k = len(DEFS)
    contrasts = np.array([difference(2, k, 1, 0, c) for c in range(k)])
    point = boot.point[1] - boot.point[0]
    crossed = crossed_t(components, contrasts, point)
    out = {"crossed": crossed.p}
    out["bootstrap"] = two_sided_p(boot.samples[:, 1] - boot.samples[:, 0])
    factor = math.sqrt(seeds / (seeds - 1))
    plain = boot.example_samples + (boot.samples - boot.example_samples) / factor
    out["hierarchical"] = two_sided_p(plain[:, 1] - plain[:, 0])
    out["bootstrap-t"] = _bootstrap_t(boot, crossed.parts.examples, point, rng)
    a, b = boot.per_seed[1], boot.per_seed[0]
    out["randomization"] = run_randomization(a, b, rounds=resamples, rng=rng)
    if example_swaps:  # the former option, kept to show why it is gone; not worth its cost under alternatives
        out["example-swaps"] = paired_randomization(
            LAYOUT, DEFS, methods[1].runs, methods[0].runs, rounds=resamples, rng=rng
        )
    for test in ("welch", "wilcoxon", "mannwhitney"):
        out[test] = seed_test_p(test, a, b, list(range(seeds)), list(range(seeds)))
    out["_share"] = crossed.parts.seed_share
    out["_pure"] = crossed.parts.pure_seed_share
    out["_diff"] = point
    out["_var"] = crossed.parts.variance
    out["_df"] = crossed.df
    return out


def _bootstrap_t(boot, examples: np.ndarray, point: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Studentized two-level bootstrap: each resample's difference over its own standard error."""
    a_runs, b_runs = boot.run_samples[1], boot.run_samples[0]  # [B, S, K]
    resamples, seeds, _ = a_runs.shape

    def pick(runs: np.ndarray) -> np.ndarray:
        picks = rng.integers(0, seeds, size=(resamples, seeds))
        return np.take_along_axis(runs, picks[:, :, None], axis=1)

    a, b = pick(a_runs), pick(b_runs)
    diff = a.mean(axis=1) - b.mean(axis=1)
    se = np.sqrt(a.var(axis=1, ddof=1) / seeds + b.var(axis=1, ddof=1) / seeds + examples)
    observed_se = np.sqrt(
        boot.per_seed[1].var(axis=0, ddof=1) / seeds + boot.per_seed[0].var(axis=0, ddof=1) / seeds + examples
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        t_star = np.abs((diff - point) / se)
        t = np.abs(point / observed_se)
    reached = (np.nan_to_num(t_star, nan=np.inf) >= t).sum(axis=0)
    return (reached + 1) / (resamples + 1)


def run_cell(task: tuple) -> dict:
    """Rejections of every test in one (regime, seeds, effect) cell over ``replicates`` (one batch)."""
    regime_name, seeds, effect_units, replicates, resamples, index, batch = task
    regime = REGIMES[regime_name]
    effect = effect_units * latent_sd(regime, 5)
    rng = np.random.default_rng([20261124, index, *([batch] if batch else [])])  # batches: independent streams
    tests = TESTS if effect_units == 0.0 else tuple(t for t in TESTS if t != "example-swaps")
    rejected = {t: np.zeros(len(DEFS)) for t in tests}
    shares, pures, diffs, variances, dfs = [], [], [], [], []
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(replicates):
        methods = simulate(rng, regime, seeds, [0.0, effect], N_EXAMPLES)
        p = two_method_pvalues(methods, resamples, rng, example_swaps="example-swaps" in tests)
        for test in tests:
            rejected[test] += p[test] < ALPHA
        shares.append(p["_share"])
        pures.append(p["_pure"])
        diffs.append(p["_diff"])
        variances.append(p["_var"])
        dfs.append(p["_df"])
    return {
        "regime": regime_name,
        "seeds": seeds,
        "effect": effect_units,
        "replicates": replicates,
        "batch": batch,
        "rate": {t: (v / replicates).tolist() for t, v in rejected.items()},
        "seed_share": np.mean(shares, axis=0).tolist(),
        "pure_seed_share": np.mean(pures, axis=0).tolist(),
        "mean_diff": np.mean(diffs, axis=0).tolist(),
        "sd_diff": np.std(diffs, axis=0, ddof=1).tolist(),
        "mean_variance": np.mean(variances, axis=0).tolist(),
        "median_df": np.median(dfs, axis=0).tolist(),
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
    }


def run_family(task: tuple) -> dict:
    """Max-T and Holm over 3 methods x 3 metrics against a baseline (9 comparisons).

    Effect 0: the complete null; the family-wise error rate. Effect > 0 (in units of the regime's
    logit-scale sd at 5 seeds, on method 1 only): the share of method 1's three comparisons found
    (power) and the family-wise error among the six true nulls.
    """
    regime_name, seeds, replicates, resamples, index, *rest = task
    effect_units = rest[0] if rest else 0.0
    batch = rest[1] if len(rest) > 1 else 0
    regime = FAMILY_REGIMES[regime_name]
    stream = [20261125, index] if effect_units == 0 else [20261126, index]
    rng = np.random.default_rng([*stream, *([batch] if batch else [])])
    k = len(DEFS)
    triples = [(j, 0, c) for j in (1, 2, 3) for c in range(k)]
    real = np.array([j == 1 and effect_units > 0 for j, _, _ in triples])
    contrasts = np.array([difference(4, k, j, b, c) for j, b, c in triples])
    effect = effect_units * latent_sd(regime, 5)
    hits = {"maxt": 0, "maxt_diagonal": 0, "maxt_examples": 0, "holm": 0}
    found = dict.fromkeys(hits, 0)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(replicates):
        methods = simulate(rng, regime, seeds, [0.0, effect, 0.0, 0.0], N_EXAMPLES)
        boot = paired_bootstrap(LAYOUT, DEFS, methods, resamples=resamples, rng=rng, resample_seeds=False)
        components = estimate(boot)
        point = np.array([boot.point[j, c] - boot.point[b, c] for j, b, c in triples])
        tests = crossed_t(components, contrasts, point)
        covariance = contrast_covariance(components, contrasts)
        scale = np.sqrt(np.diag(covariance))
        maxt = parametric_maxt(tests.t, tests.df, covariance / np.outer(scale, scale), alpha=ALPHA, draws=4000, rng=rng)
        diagonal = contrast_covariance(components, contrasts, seed_cross_metric=False)
        diagonal_scale = np.sqrt(np.diag(diagonal))
        maxt_diagonal = parametric_maxt(
            tests.t, tests.df, diagonal / np.outer(diagonal_scale, diagonal_scale), alpha=ALPHA, draws=4000, rng=rng
        )
        flat = contrasts.reshape(len(triples), -1)
        examples = flat @ components.example_cov @ flat.T  # the correlation of the joint resamples alone
        spread = np.sqrt(np.clip(np.diag(examples), 1e-300, None))
        maxt_examples = parametric_maxt(
            tests.t, tests.df, examples / np.outer(spread, spread), alpha=ALPHA, draws=4000, rng=rng
        )
        for name, adjusted in (
            ("maxt", maxt.adjusted),
            ("maxt_diagonal", maxt_diagonal.adjusted),
            ("maxt_examples", maxt_examples.adjusted),
            ("holm", holm(tests.p)),
        ):
            rejected = adjusted < ALPHA
            hits[name] += bool(rejected[~real].any())
            found[name] += int(rejected[real].sum())
    out = {
        "regime": regime_name,
        "seeds": seeds,
        "replicates": replicates,
        "batch": batch,
        "fwer": {key: value / replicates for key, value in hits.items()},
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
    }
    if effect_units > 0:
        out |= {"effect": effect_units, "power": {key: value / (3 * replicates) for key, value in found.items()}}
    return out


FAMILY_EFFECT = 3.0
"""Effect of the family power check, in units of the regime's logit-scale sd of a difference at 5 seeds."""

FAMILY_REGIMES = {
    "seed-dominated": REGIMES["seed-dominated"],
    "example-dominated": REGIMES["example-dominated"],
    "independent task seeds": Regime(seed_sd=0.05, interaction_sd=0.2, noise_sd=0.3, independent_tasks=True),
}


def mc_se(rate: float, replicates: int) -> float:
    return math.sqrt(max(rate * (1 - rate), 1e-12) / replicates)


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}, Python {platform.python_version()}"


def pooled(cells: list[dict]) -> list[dict]:
    """Batches of the same (regime, seeds, effect) as one cell: rates and means weighted by replicates."""
    groups: dict[tuple, list[dict]] = {}
    for c in cells:
        groups.setdefault((c["regime"], c["seeds"], c["effect"]), []).append(c)
    out = []
    for batches in groups.values():
        weights = np.array([b["replicates"] for b in batches], float)

        def mean(key: str, batches: list[dict] = batches, weights: np.ndarray = weights) -> list[float]:
            return (np.average([b[key] for b in batches], axis=0, weights=weights)).tolist()

        tests = [t for t in batches[0]["rate"] if all(t in b["rate"] for b in batches)]
        cell = dict(batches[0])
        cell |= {
            "replicates": int(weights.sum()),
            "rate": {t: np.average([b["rate"][t] for b in batches], axis=0, weights=weights).tolist() for t in tests},
            "seconds": sum(b["seconds"] for b in batches),
            "cpu_seconds": sum(b["cpu_seconds"] for b in batches),
        }
        for key in ("seed_share", "pure_seed_share", "mean_diff", "mean_variance", "median_df"):
            cell[key] = mean(key)
        cell["sd_diff"] = np.sqrt(
            np.average([np.square(b["sd_diff"]) for b in batches], axis=0, weights=weights)
        ).tolist()
        out.append(cell)
    return out


def pooled_families(families: list[dict]) -> list[dict]:
    """Batches of the same (regime, seeds, effect) family check as one; each rate over the batches that have it."""
    groups: dict[tuple, list[dict]] = {}
    for f in families:
        groups.setdefault((f["regime"], f["seeds"], f.get("effect", 0.0)), []).append(f)
    out = []
    for batches in groups.values():
        family = dict(batches[0])
        for field in ("fwer", "power"):
            if field not in family:
                continue
            keys = {key for b in batches for key in b.get(field, {})}
            family[field] = {
                key: float(
                    np.average(
                        [b[field][key] for b in batches if key in b.get(field, {})],
                        weights=[b["replicates"] for b in batches if key in b.get(field, {})],
                    )
                )
                for key in keys
            }
        family["replicates_of"] = {
            key: sum(b["replicates"] for b in batches if key in b["fwer"]) for key in family["fwer"]
        }
        family["replicates"] = sum(b["replicates"] for b in batches)
        family["cpu_seconds"] = sum(b["cpu_seconds"] for b in batches)
        out.append(family)
    return out


def render(results: dict, command: str) -> str:
    cells = sorted(pooled(results["cells"]), key=lambda c: (list(REGIMES).index(c["regime"]), c["seeds"], c["effect"]))
    families = sorted(
        pooled_families(results["families"]), key=lambda f: (list(FAMILY_REGIMES).index(f["regime"]), f["seeds"])
    )
    cpu = sum(c["cpu_seconds"] for c in cells + families) / 60
    sessions = "; ".join(
        f"`{s['before']}` -> `{s['after']}` ({s['seconds'] / 60:.0f} min, {s['workers']} workers)"
        for s in results["sessions"]
    )
    lines = [
        "# Calibration and power of the within-cell tests",
        "",
        "What a † of `mtlbench report` is worth: every `--test` on simulated leaderboard cells with a known "
        "truth, through mtlbench's own statistics API. The model, the regimes and the tests are described in "
        "the docstring of `benchmarks/stats_calibration.py`.",
        "",
        f"Command: `{command}` (resumable: finished cells are kept in benchmarks/stats_calibration.json).",
        "",
        f"Machine: {_machine()}. Sessions (uptime before -> after): {sessions}.",
        f"CPU time: {cpu:.0f} min in all ({results['resamples']} bootstrap resamples and randomization rounds per "
        "replicate; the run-level randomization enumerates all 2^S swaps).",
        "",
    ]
    null = [c for c in cells if c["effect"] == 0.0]
    many = max((c["replicates"] for c in null), default=0)
    replicates = min((c["replicates"] for c in null), default=0)
    lines += summary(cells, families)
    lines += [
        "## Reading",
        "",
        "- The crossed test is the default because it is the only construction here whose false-positive rate "
        "stays in the band whatever the share of seeds and test set: the old two-level percentile bootstrap is too "
        "liberal where seeds dominate (a percentile over 3-5 seed values) and rejects almost nothing where they do "
        "not (each run's test-set noise counted twice); dropping its sqrt(S/(S-1)) rescaling (plain hierarchical "
        "resampling) makes the first failure worse; studentizing it (bootstrap-t) makes it conservative, most of all "
        "at 3 seeds, where a resample often repeats one seed and its standard error collapses.",
        "- Tests that condition on the test set (welch, wilcoxon, mannwhitney and the run-level randomization) "
        "count a method-by-example interaction as a real difference: calibrated where seeds dominate, far too "
        "liberal where the test set carries the variance. The leaderboard measures that share in every cell and "
        "warns in the caption above a test-set share of 10%; the rank tests and the randomization test also state "
        "their floor (no p below 2 / 2^S for Wilcoxon and the randomization test, 2 / C(2S, S) for Mann-Whitney) "
        "and say when nothing can be significant.",
        "- Example swaps across seeds (the former `--test randomization`) ignore seed variation altogether and are "
        "no longer offered with several seeds per method.",
        "- Power is in units of each regime's own spread, so rows compare tests, not regimes; where the old "
        "bootstrap rejects more true differences than the crossed test (seed-dominated), it also rejects more true "
        "nulls.",
        "",
    ]
    lines += [
        "## False-positive rate at alpha 0.05 (true null)",
        "",
        f"{replicates} replicates per cell ({many} with 3 seeds); Monte-Carlo standard error about "
        f"{mc_se(0.05, max(replicates, 1)):.4f} ({mc_se(0.05, max(many, 1)):.4f}) at a rate of 0.05. "
        "Each entry: ROUGE-L / BLEU-4 / CE micro-F1. Bold: outside [0.025, 0.065].",
        "",
    ]
    for regime in REGIMES:
        rows = [c for c in null if c["regime"] == regime]
        if not rows:
            continue
        share = " / ".join(f"{100 * x:.0f}%" for x in rows[1 if len(rows) > 1 else 0]["pure_seed_share"])
        runs = " / ".join(f"{100 * x:.0f}%" for x in rows[1 if len(rows) > 1 else 0]["seed_share"])
        lines += [
            f"### {regime}",
            "",
            f"{REGIMES[regime]}. At 5 seeds, training randomness carries {share} of the variance of the "
            f"difference and the runs' full-test-set values (seed part, with one copy of each run's noise) {runs}.",
            "",
            "| test | " + " | ".join(f"S = {c['seeds']}" for c in rows) + " |",
            "|---|" + "---|" * len(rows),
        ]
        for test in TESTS:
            entries = []
            for c in rows:
                rates = c["rate"][test]
                entries.append(" / ".join(_fmt_rate(r) for r in rates))
            lines.append(f"| {TEST_LABELS[test]} | " + " | ".join(entries) + " |")
        lines.append("")
    lines += ["## Power", ""]
    for effect in EFFECTS:
        lines += [
            f"### effect = {effect:g} x the regime's logit-scale sd of the difference at 5 seeds",
            "",
            "Each entry: ROUGE-L / BLEU-4 / CE micro-F1 rejection rate (the metric-scale effect differs by metric).",
            "",
        ]
        for regime in REGIMES:
            rows = [c for c in cells if c["regime"] == regime and c["effect"] == effect]
            if not rows:
                continue
            lines += [
                f"**{regime}** ({rows[0]['replicates']} replicates per cell)",
                "",
                "| test | " + " | ".join(f"S = {c['seeds']}" for c in rows) + " |",
                "|---|" + "---|" * len(rows),
            ]
            for test in (t for t in TESTS if t in rows[0]["rate"]):
                entries = [" / ".join(f"{r:.3f}" for r in c["rate"][test]) for c in rows]
                lines.append(f"| {TEST_LABELS[test]} | " + " | ".join(entries) + " |")
            analytic = []
            for c in rows:
                ref = next((x for x in null if x["regime"] == regime and x["seeds"] == c["seeds"]), None)
                values = []
                for m in range(len(DEFS) if ref else 0):
                    se = math.sqrt(ref["mean_variance"][m])
                    df = ref["median_df"][m]
                    crit = stats.t.isf(ALPHA / 2, df)
                    values.append(float(analytic_power(c["mean_diff"][m], se, df, crit)))
                analytic.append(" / ".join(f"{v:.3f}" for v in values))
            lines.append("| crossed, analytic power (mtlbench plan's formula) | " + " | ".join(analytic) + " |")
            lines.append("")
    powered = [f for f in families if f.get("effect")]
    families = [f for f in families if not f.get("effect")]
    if families:
        lines += [
            "## Family-wise error of the corrections (complete null)",
            "",
            "3 methods x 3 metrics against a baseline (9 comparisons), crossed test; at least one † anywhere "
            "counts as an error. max-T: parametric step-down with the correlation from the variance components "
            "(4,000 null draws per replicate). Monte-Carlo standard error of a rate of 0.05: "
            f"{mc_se(0.05, min(f['replicates'] for f in families)):.3f} with {min(f['replicates'] for f in families)} "
            "replicates. The family-wise error of all nine cells together is in the summary.",
            "",
            "| regime | S | replicates | max-T | Holm | max-T, correlation of the joint resamples only (replicates) |",
            "|---|---|---|---|---|---|",
        ]
        for f in families:
            alternative = (
                f"{f['fwer']['maxt_examples']:.3f} ({f['replicates_of']['maxt_examples']})"
                if "maxt_examples" in f["fwer"]
                else ""
            )
            lines.append(
                f"| {f['regime']} | {f['seeds']} | {f['replicates']} | {f['fwer']['maxt']:.3f} "
                f"| {f['fwer']['holm']:.3f} | {alternative} |"
            )
        lines.append("")
    if powered:
        lines += [
            "## Power of max-T against Holm",
            "",
            f"The same family; method 1 better than the baseline by {FAMILY_EFFECT:g} x the regime's logit-scale sd "
            "of a difference at 5 seeds, on every metric; 5 seeds. Found: share of method 1's 3 comparisons with a †; "
            "FWER: at least one † among the 6 true nulls.",
            "",
            "| regime | replicates | found, max-T | found, Holm | FWER, max-T | FWER, Holm |",
            "|---|---|---|---|---|---|",
        ]
        for f in powered:
            lines.append(
                f"| {f['regime']} | {f['replicates']} | {f['power']['maxt']:.3f} | {f['power']['holm']:.3f} "
                f"| {f['fwer']['maxt']:.3f} | {f['fwer']['holm']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def summary(cells: list[dict], families: list[dict]) -> list[str]:
    """The figures the tables below support, computed from them (so that they cannot drift)."""
    null = [c for c in cells if c["effect"] == 0.0]
    lines = ["## Summary", ""]
    for test in TESTS:
        rates = [(r, c["regime"], c["seeds"], m) for c in null for m, r in enumerate(c["rate"].get(test, []))]
        if not rates:
            continue
        low, high = min(rates), max(rates)
        outside = [x for x in rates if not 0.025 <= x[0] <= 0.065]
        far = [x for x in rates if not 0.01 <= x[0] <= 0.08]
        lines.append(
            f"- {TEST_LABELS[test]}: false-positive rate {low[0]:.3f} ({low[1]}, S = {low[2]}, "
            f"{METRIC_NAMES[low[3]]}) to {high[0]:.3f} ({high[1]}, S = {high[2]}, {METRIC_NAMES[high[3]]}); "
            f"{len(outside)} of {len(rates)} regime x S x metric cells outside [0.025, 0.065], {len(far)} outside "
            "[0.01, 0.08]"
        )
    lines.append("")
    example = [c for c in cells if c["regime"] == "example-dominated" and c["effect"] > 0]
    if example:
        gaps = [
            (c["rate"]["crossed"][m] - c["rate"]["bootstrap"][m], c["seeds"], c["effect"], m, c["replicates"])
            for c in example
            for m in range(len(DEFS))
        ]
        worst = min(gaps)
        se = math.sqrt(2 * 0.25 / worst[4])
        lower = [g for g in gaps if g[0] < -2 * se]
        lines.append(
            "- Power where the old bootstrap is calibrated (example-dominated): the new default minus the old, "
            f"from {worst[0]:+.3f} (S = {worst[1]}, effect {worst[2]:g}, {METRIC_NAMES[worst[3]]}) to "
            f"{max(gaps)[0]:+.3f}; {len(lower)} of {len(gaps)} cells lower by more than two Monte-Carlo standard "
            f"errors of the difference (at most {se:.3f})."
        )
    checks = []
    for c in (c for c in cells if c["effect"] > 0):
        ref = next((x for x in null if x["regime"] == c["regime"] and x["seeds"] == c["seeds"]), None)
        for m in range(len(DEFS) if ref else 0):
            se, df = math.sqrt(ref["mean_variance"][m]), ref["median_df"][m]
            predicted = float(analytic_power(c["mean_diff"][m], se, df, stats.t.isf(ALPHA / 2, df)))
            checks.append(abs(predicted - c["rate"]["crossed"][m]))
    if checks:
        lines.append(
            "- The analytic power of `mtlbench plan` (noncentral t on the null cells' mean variance and median df) "
            f"against the simulated power of the crossed test: mean absolute difference {np.mean(checks):.3f}, "
            f"largest {max(checks):.3f}."
        )
    powered = [f for f in families if f.get("effect")]
    families = [f for f in families if not f.get("effect")]
    if powered:
        lines.append(
            "- Power of max-T against Holm (one method with a real effect): max-T finds "
            + ", ".join(f"{f['power']['maxt']:.3f}" for f in powered)
            + " of the real differences where Holm finds "
            + ", ".join(f"{f['power']['holm']:.3f}" for f in powered)
            + f" ({', '.join(f['regime'] for f in powered)})."
        )
    if families:
        total = {
            key: sum(
                f["fwer"][key] * f["replicates_of"].get(key, f["replicates"]) for f in families if key in f["fwer"]
            )
            for key in ("maxt", "holm", "maxt_examples")
        }
        count = {
            key: sum(f["replicates_of"].get(key, f["replicates"]) for f in families if key in f["fwer"])
            for key in total
        }
        lines.append(
            "- Family-wise error, all regimes and seed counts pooled: "
            + "; ".join(
                f"{name} {total[key] / count[key]:.3f} +- {mc_se(total[key] / count[key], count[key]):.3f} "
                f"({count[key]} replicates)"
                for key, name in (
                    ("maxt", "max-T"),
                    ("holm", "Holm"),
                    ("maxt_examples", "max-T, joint resamples' correlation"),
                )
                if count[key]
            )
            + "."
        )
        lines.append(
            "- Family-wise error over 9 comparisons (complete null): max-T "
            f"{min(f['fwer']['maxt'] for f in families):.3f} to {max(f['fwer']['maxt'] for f in families):.3f}, "
            f"Holm {min(f['fwer']['holm'] for f in families):.3f} to {max(f['fwer']['holm'] for f in families):.3f}."
        )
    return [*lines, ""]


def _fmt_rate(rate: float) -> str:
    text = f"{rate:.3f}"
    return text if 0.025 <= rate <= 0.065 else f"**{text}**"


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def main() -> None:
    if any(os.environ.get(name) != "1" for name in BLAS_THREADS):
        # one BLAS thread per process (measured: on a loaded 2-core machine two OpenBLAS threads made the
        # bootstrap's matrix product 15x slower); the variables must be set before numpy loads
        os.environ.update(dict.fromkeys(BLAS_THREADS, "1"))
        os.execv(sys.executable, [sys.executable, *sys.argv])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000, help="replicates per null cell")
    parser.add_argument("--power-replicates", type=int, default=200, help="replicates per power cell")
    parser.add_argument("--family-replicates", type=int, default=300)
    parser.add_argument(
        "--resamples",
        type=int,
        default=199,
        help="bootstrap resamples and randomization rounds per replicate: with B + 1 = 200 a bootstrap p-value "
        "2 (count + 1) / (B + 1) is below 0.05 exactly when at most 3 resamples fall beyond 0 (Davison & Hinkley "
        "1997, ch. 4: B + 1 a multiple of 1 / alpha); the crossed test only estimates a variance from them",
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 replicates everywhere")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/stats_calibration.json"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--render", action="store_true", help="only render the finished cells of --json")
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="a further batch of replicates (independent streams), pooled with the others",
    )
    parser.add_argument("--null-only", action="store_true", help="only the false-positive cells (with --batch)")
    parser.add_argument(
        "--only-seeds", type=int, nargs="*", default=None, help="only test cells with these seeds (families: all)"
    )
    args = parser.parse_args()
    if args.render:
        state = json.loads(args.json.read_text())
        text = render(
            state, "python benchmarks/stats_calibration.py " + " ".join(a for a in sys.argv[1:] if a != "--render")
        )
        if args.out:
            args.out.write_text(text)
        print(text)
        return
    if args.quick:
        args.replicates = args.power_replicates = args.family_replicates = 20
    state = _load(args.json, args.resamples)
    session = {"before": _uptime(), "workers": args.workers}
    start = time.perf_counter()
    tasks = []
    for regime in REGIMES:
        for seeds in SEEDS:
            for effect in (0.0, *EFFECTS):
                replicates = args.replicates if effect == 0.0 else args.power_replicates
                if effect == 0.0 and seeds == 3:
                    replicates *= FEW_SEEDS_FACTOR
                if (effect == 0.0 or not args.null_only) and (not args.only_seeds or seeds in args.only_seeds):
                    tasks.append((regime, seeds, effect, replicates, args.resamples, len(tasks), args.batch))
                else:
                    tasks.append(None)  # keeps the indices (random streams) of the other cells
    family_tasks: list[tuple] = [
        (regime, seeds, args.family_replicates, args.resamples, i, 0.0, args.batch)
        for i, (regime, seeds) in enumerate((r, s) for r in FAMILY_REGIMES for s in SEEDS)
    ]
    family_tasks += [  # max-T's power against Holm's, one method with a real effect (seed variance: 5 seeds)
        (regime, 5, args.family_replicates, args.resamples, i, FAMILY_EFFECT, args.batch)
        for i, regime in enumerate(FAMILY_REGIMES)
    ]
    tasks = [t for t in tasks if t is not None]
    done = {(c["regime"], c["seeds"], c["effect"], c["replicates"], c.get("batch", 0)) for c in state["cells"]}
    done_families = {
        (f["regime"], f["seeds"], f["replicates"], f.get("effect", 0.0), f.get("batch", 0)) for f in state["families"]
    }
    with ProcessPoolExecutor(args.workers) as pool:
        futures = {pool.submit(run_cell, t): "cells" for t in tasks if (*t[:4], t[6]) not in done}
        futures |= {
            pool.submit(run_family, t): "families" for t in family_tasks if (*t[:3], t[5], t[6]) not in done_families
        }
        for future in as_completed(futures):  # every finished cell is saved at once: a killed run resumes
            state[futures[future]].append(future.result())
            _save(args.json, state)
    session |= {"after": _uptime(), "seconds": time.perf_counter() - start}
    state["sessions"].append(session)
    _save(args.json, state)
    command = "python benchmarks/stats_calibration.py " + " ".join(sys.argv[1:])
    text = render(state, command)
    if args.out:
        args.out.write_text(text)
    print(text)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _load(path: Path, resamples: int) -> dict:
    """Cells finished by an earlier (killed) run with the same resamples, or a fresh state."""
    fresh = {"resamples": resamples, "cells": [], "families": [], "sessions": [],
             "regimes": {k: asdict(v) for k, v in REGIMES.items()}}  # fmt: skip
    if not path.is_file():
        return fresh
    state = json.loads(path.read_text())
    return state if state.get("resamples") == resamples else fresh


def _save(path: Path, state: dict) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=1))
    temporary.replace(path)


if __name__ == "__main__":
    main()
