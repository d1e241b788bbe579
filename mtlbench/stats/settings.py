"""How a leaderboard is tested: one frozen object, every field of which the captions state."""

from __future__ import annotations

from dataclasses import dataclass

from mtlbench.errors import MtlbenchError
from mtlbench.stats.catalogue import METRICS
from mtlbench.stats.correction import CORRECTION_NAMES, CORRECTIONS
from mtlbench.stats.seedtests import SEED_TEST_NAMES, SEED_TESTS

TESTS = ("bootstrap", "randomization", *SEED_TESTS)
POSTHOCS = ("wilcoxon", "nemenyi")

SUMMARY_METRICS: tuple[str, ...] = (
    "BLEU_4",
    "METEOR",
    "ROUGE_L",
    "CIDEr",
    "CE_F1_micro",
    "CE_F1_macro",
    "CE_F1_example",
)
"""Metrics behind Delta_m% and the ranks: one per family, so BLEU-1..4 or P/R/F1 do not count
several times for what is one kind of quality."""


@dataclass(frozen=True)
class Settings:
    """How a leaderboard is tested; every field is stated in the caption."""

    baseline: str = "ls"
    alpha: float = 0.05
    correction: str = "holm"
    """"holm" (family-wise) or "bh" (Benjamini-Hochberg false discovery rate), over each table."""
    test: str = "bootstrap"
    """"bootstrap" (two-level paired), "randomization" (paired approximate randomization), or a
    per-seed test: "welch", "wilcoxon" (paired by seed), "mannwhitney"."""
    resamples: int = 10_000
    """Bootstrap resamples and randomization rounds. 10,000 let Holm over a 10-method x 7-metric
    table reach alpha 0.05 (the smallest p is 2 / (B + 1))."""
    seed: int = 0
    """Seed of the resampling: the same store and settings give the same leaderboard."""
    level: float = 0.95
    """Confidence level of the intervals."""
    posthoc: str = "wilcoxon"
    """Across cells: "wilcoxon" (pairwise Wilcoxon signed-rank, Holm) or "nemenyi"."""
    summary_metrics: tuple[str, ...] = SUMMARY_METRICS
    """Metrics behind Delta_m% and the mean ranks (those a cell lacks are left out there)."""

    def __post_init__(self) -> None:
        if not self.baseline:
            raise MtlbenchError("--baseline must name a method of the store, e.g. ls")
        if not 0 < self.alpha < 1:
            raise MtlbenchError(f"--alpha must lie strictly between 0 and 1, e.g. 0.05; got {self.alpha}")
        if not 0 < self.level < 1:
            raise MtlbenchError(f"the confidence level must lie strictly between 0 and 1; got {self.level}")
        if self.correction not in CORRECTIONS:
            raise MtlbenchError(f"unknown --correction {self.correction!r}; choose one of {', '.join(CORRECTIONS)}")
        if self.test not in TESTS:
            raise MtlbenchError(f"unknown --test {self.test!r}; choose one of {', '.join(TESTS)}")
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
        if self.test == "bootstrap":
            return "two-level paired bootstrap"
        if self.test == "randomization":
            return "paired approximate randomization"
        return SEED_TEST_NAMES[self.test]

    @property
    def correction_name(self) -> str:
        return CORRECTION_NAMES[self.correction]

    @property
    def per_seed(self) -> bool:
        return self.test in SEED_TESTS

    def command(self, results: str = "RESULTS") -> str:
        """The `mtlbench report` command that reproduces a leaderboard with these settings."""
        parts = [f"mtlbench report {results} --baseline {self.baseline} --test {self.test}"]
        parts.append(f"--correction {self.correction} --alpha {self.alpha:g} --resamples {self.resamples}")
        parts.append(f"--seed {self.seed} --posthoc {self.posthoc}")
        if self.summary_metrics != SUMMARY_METRICS:
            parts.append(f"--summary-metrics {','.join(self.summary_metrics)}")
        return " ".join(parts)
