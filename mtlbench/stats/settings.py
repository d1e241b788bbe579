"""How a leaderboard is tested: one frozen object, every field of which the captions state."""

from __future__ import annotations

from dataclasses import dataclass

from mtlbench.errors import MtlbenchError
from mtlbench.stats.catalogue import ALIGN, CE, CLS, DELTA_M, METRICS, MODEL, NLG
from mtlbench.stats.correction import CORRECTION_NAMES, CORRECTIONS
from mtlbench.stats.seedtests import SEED_TEST_NAMES, SEED_TESTS

TESTS = ("crossed", "bootstrap", "randomization", *SEED_TESTS)
TEST_NAMES = {
    "crossed": "crossed-design t-test",
    "bootstrap": "two-level paired bootstrap",
    "randomization": "randomization test",
    **SEED_TEST_NAMES,
}
POSTHOCS = ("wilcoxon", "nemenyi")
AUTO = "auto"
MAXT_TESTS = ("crossed",)
"""Tests whose variance components give the joint null distribution that max-T needs."""

ROPE_POINTS: dict[str, float] = {NLG: 0.5, CE: 1.0, MODEL: 1.0, CLS: 1.0, ALIGN: 1.0, DELTA_M: 1.0}
"""Default half-width of the region of practical equivalence, in table units (x100 for metrics,
percent for Delta_m%), by metric group: half a BLEU-4 point (Benavoli et al. 2017 use 1% of
accuracy; NLG metrics are smaller numbers), one point of a CE F1, a model-based score, a cls AUROC or F1 or a
retrieval recall, 1% of
Delta_m%. Stated in every caption; change it with --rope KEY=VALUE before looking at the results,
never after."""

SUMMARY_METRICS: tuple[str, ...] = (
    "BLEU_4",
    "METEOR",
    "ROUGE_L",
    "CIDEr",
    "CE_F1_micro",
    "CE_F1_macro",
    "CE_F1_example",
    "CLS_AUROC_micro",
    "CLS_AUROC_macro",
    "CLS_F1_micro",
    "CLS_F1_macro",
    "ALIGN_R1_i2t",
    "ALIGN_R5_i2t",
    "ALIGN_R10_i2t",
    "ALIGN_R1_t2i",
    "ALIGN_R5_t2i",
    "ALIGN_R10_t2i",
)
"""Metrics behind Delta_m% and the ranks: one per family, so BLEU-1..4 or P/R/F1 do not count
several times for what is one kind of quality. Delta_m% averages them per trained task first
(the report: the NLG and CE metrics; cls: its head's AUROC and F1; align: retrieval recall@k), then over
the tasks."""


@dataclass(frozen=True)
class Settings:
    """How a leaderboard is tested; every field is stated in the caption."""

    baseline: str = "ls"
    alpha: float = 0.05
    correction: str = AUTO
    """"maxt" (step-down max-T, family-wise; needs --test crossed), "holm" (family-wise), "bh"
    (Benjamini-Hochberg false discovery rate), each over a declared family (a table's
    comparisons); "auto": maxt with the crossed test, holm with the others."""
    test: str = "crossed"
    """"crossed" (t-test on the crossed design's variance components, the default), "bootstrap"
    (the former default: two-level paired percentile bootstrap), "randomization" (whole seed-matched
    runs exchanged; examples only with one seed per method), or a per-seed test: "welch",
    "wilcoxon" (paired by seed), "mannwhitney"."""
    resamples: int = 10_000
    """Bootstrap resamples, randomization rounds and max-T null draws. 10,000 let a bootstrap
    p-value pass Holm over a 10-method x 7-metric table (the smallest p is 2 / (B + 1))."""
    seed: int = 0
    """Seed of the resampling: the same store and settings give the same leaderboard."""
    level: float = 0.95
    """Confidence level of the intervals."""
    posthoc: str = "wilcoxon"
    """Across cells: "wilcoxon" (pairwise Wilcoxon signed-rank, Holm) or "nemenyi"."""
    summary_metrics: tuple[str, ...] = SUMMARY_METRICS
    """Metrics behind Delta_m% and the mean ranks (those a cell lacks are left out there)."""
    rope: tuple[tuple[str, float], ...] = ()
    """Overrides of :data:`ROPE_POINTS` per metric key (or "delta_m"), in table units."""
    power: float = 0.8
    """Power at which the minimum detectable effect is stated."""
    reference: str = ""
    """A second reference of Delta_m% beside the baseline, e.g. "stl" (the single-task models, the MTL
    literature's reference); empty: Delta_m% against the baseline only."""

    def __post_init__(self) -> None:
        if not self.baseline:
            raise MtlbenchError("--baseline must name a method of the store, e.g. ls")
        if not 0 < self.alpha < 1:
            raise MtlbenchError(f"--alpha must lie strictly between 0 and 1, e.g. 0.05; got {self.alpha}")
        if not 0 < self.level < 1:
            raise MtlbenchError(f"the confidence level must lie strictly between 0 and 1; got {self.level}")
        if self.correction not in (AUTO, *CORRECTIONS):
            raise MtlbenchError(
                f"unknown --correction {self.correction!r}; choose one of {', '.join((AUTO, *CORRECTIONS))}"
            )
        if self.test not in TESTS:
            raise MtlbenchError(f"unknown --test {self.test!r}; choose one of {', '.join(TESTS)}")
        if self.correction == "maxt" and self.test not in MAXT_TESTS:
            raise MtlbenchError(
                f"--correction maxt needs the variance components of --test crossed; with --test {self.test} "
                "choose --correction holm or bh"
            )
        for key, value in self.rope:
            if key not in METRICS and key != DELTA_M:
                raise MtlbenchError(f"unknown metric {key!r} in --rope; choose among {', '.join(METRICS)}, {DELTA_M}")
            if not value > 0:
                raise MtlbenchError(f"--rope {key}={value}: the region of practical equivalence must be positive")
        if not 0 < self.power < 1:
            raise MtlbenchError(f"the power of the minimum detectable effect must lie in (0, 1); got {self.power}")
        if self.posthoc not in POSTHOCS:
            raise MtlbenchError(f"unknown --posthoc {self.posthoc!r}; choose one of {', '.join(POSTHOCS)}")
        if self.resamples < 100:
            raise MtlbenchError(f"--resamples must be at least 100 (10000 for a publication); got {self.resamples}")
        unknown = [m for m in self.summary_metrics if m not in METRICS]
        if unknown or not self.summary_metrics:
            raise MtlbenchError(
                f"unknown summary metrics {unknown or '(none given)'}; choose among {', '.join(METRICS)}"
            )

    @property
    def test_name(self) -> str:
        return TEST_NAMES[self.test]

    @property
    def family_correction(self) -> str:
        """The correction in force: "auto" resolved to maxt (crossed test) or holm (the others)."""
        if self.correction != AUTO:
            return self.correction
        return "maxt" if self.test in MAXT_TESTS else "holm"

    @property
    def correction_name(self) -> str:
        return CORRECTION_NAMES[self.family_correction]

    def rope_points(self, key: str, group: str) -> float:
        """The ROPE half-width of metric ``key`` (or "delta_m") in table units."""
        return dict(self.rope).get(key, ROPE_POINTS.get(group, ROPE_POINTS[DELTA_M]))

    @property
    def per_seed(self) -> bool:
        return self.test in SEED_TESTS

    def command(self, results: str = "RESULTS") -> str:
        """The `mtlbench report` command that reproduces a leaderboard with these settings."""
        parts = [f"mtlbench report {results} --baseline {self.baseline} --test {self.test}"]
        parts.append(f"--correction {self.family_correction} --alpha {self.alpha:g} --resamples {self.resamples}")
        parts.append(f"--seed {self.seed} --posthoc {self.posthoc}")
        if self.reference:
            parts.append(f"--reference {self.reference}")
        if self.summary_metrics != SUMMARY_METRICS:
            parts.append(f"--summary-metrics {','.join(self.summary_metrics)}")
        parts += [f"--rope {key}={value:g}" for key, value in self.rope]
        return " ".join(parts)
