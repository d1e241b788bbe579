"""Per-cell analysis: bootstrap a cell's runs, test every method against the baseline and the best.

Families for the multiple-comparison correction: within one cell, the comparisons with the
baseline of each metric group's table (methods x metrics) form one family, Delta_m% another;
"not significantly worse than the best" is decided by the same test and correction over the
group's (method, metric) comparisons with each metric's best method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mtlbench.stats.across import delta_m, ranks
from mtlbench.stats.bootstrap import BootstrapResult, paired_bootstrap, percentile_interval, two_sided_p
from mtlbench.stats.catalogue import MetricDef
from mtlbench.stats.correction import correct
from mtlbench.stats.loading import CellData, load_cell
from mtlbench.stats.randomization import paired_randomization, paired_runs
from mtlbench.stats.seedtests import few_seeds_warning, seed_test_p
from mtlbench.stats.settings import Settings
from mtlbench.stats.store import Cell

FEW_SEEDS = 5
"""Below this many seeds per method, the bootstrap's seed level rests on very few values."""


@dataclass
class CellResult:
    """Everything the tables of one cell show; arrays are [M methods, K metrics]."""

    title: str
    metrics: list[MetricDef]
    methods: list[str]
    seeds: dict[str, int]
    mean: np.ndarray
    std: np.ndarray
    """Standard deviation over seeds (ddof 1; NaN with one seed)."""
    ci_low: np.ndarray
    ci_high: np.ndarray
    """Two-level bootstrap percentile interval of the mean over seeds."""
    diff: np.ndarray
    """Mean minus the baseline's mean (NaN without a baseline)."""
    diff_low: np.ndarray
    diff_high: np.ndarray
    """Two-level bootstrap percentile interval of the difference to the baseline."""
    p_raw: np.ndarray
    """Uncorrected p-values against the baseline (NaN for the baseline itself)."""
    p_baseline: np.ndarray
    """Corrected p-values against the baseline."""
    significant: np.ndarray
    best_tied: np.ndarray
    """True where a method is not significantly worse than the best one (bold)."""
    second: np.ndarray
    """True for the second-best mean of each metric (underlined)."""
    delta_m: np.ndarray
    """[M] Delta_m% against the baseline over ``summary`` (positive = better); NaN without a baseline."""
    delta_m_low: np.ndarray
    delta_m_high: np.ndarray
    delta_m_p: np.ndarray
    """[M] corrected p-values of Delta_m% != 0."""
    delta_m_significant: np.ndarray
    mean_rank: np.ndarray
    """[M] mean rank over the summary metrics of this cell (1 = best)."""
    summary: list[int]
    """Indices into ``metrics`` of the summary metrics this cell has."""
    n_examples: int
    baseline: str | None
    labeler: str = ""
    uncertain: str = ""
    tuning: str = ""
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def index(self, key: str) -> int:
        """Column of the metric ``key``."""
        return [d.key for d in self.metrics].index(key)


class Comparisons:
    """p-values of method pairs under the chosen test, computed once per pair.

    Each comparison returns ``[K + 1]``: one p-value per metric, then Delta_m% of the first
    method against the second.
    """

    def __init__(self, data: CellData, boot: BootstrapResult, settings: Settings, summary: list[int]) -> None:
        self.data, self.boot, self.settings, self.summary = data, boot, settings, summary
        self.higher = [data.metrics[k].higher_is_better for k in summary]
        self.tasks = [data.metrics[k].group for k in summary]
        self.cache: dict[tuple[int, int], np.ndarray] = {}
        self.warnings: list[str] = []

    def delta(self, method: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        return delta_m(method[..., self.summary], baseline[..., self.summary], self.higher, self.tasks)

    def p(self, j: int, b: int) -> np.ndarray:
        if (j, b) not in self.cache:
            self.cache[(j, b)] = self._compute(j, b)
        return self.cache[(j, b)]

    def _compute(self, j: int, b: int) -> np.ndarray:
        test = self.settings.test
        if test == "bootstrap":
            samples = self.boot.samples
            diff = samples[:, j] - samples[:, b]
            return two_sided_p(np.concatenate([diff, self.delta(samples[:, j], samples[:, b])[:, None]], axis=1))
        a, c = self.data.methods[j], self.data.methods[b]
        if test == "randomization":
            pairs = paired_runs(a.seeds, c.seeds)
            return paired_randomization(
                self.data.layout,
                self.data.metrics,
                [a.runs[i] for i, _ in pairs],
                [c.runs[i] for _, i in pairs],
                rounds=self.settings.resamples,
                rng=np.random.default_rng([self.settings.seed, 1]),  # the same swaps for every pair
                extra=lambda x, y: self.delta(x, y)[..., None],
            )
        base_point = self.boot.point[b]
        values_a = np.column_stack([self.boot.per_seed[j], self.delta(self.boot.per_seed[j], base_point)])
        values_b = np.column_stack([self.boot.per_seed[b], self.delta(self.boot.per_seed[b], base_point)])
        return seed_test_p(test, values_a, values_b, list(a.seeds), list(c.seeds))


def _order(data: CellData, baseline: str) -> None:
    """Baseline first, the others alphabetically: the row order of every table."""
    data.methods.sort(key=lambda m: (m.name != baseline, m.name))


def analyse_cell(cell: Cell, settings: Settings) -> CellResult | str:
    """The statistics of one cell, or a one-line reason why there are none."""
    loaded = load_cell(cell)
    if isinstance(loaded, str):
        return loaded
    data = loaded
    _order(data, settings.baseline)
    names = [m.name for m in data.methods]
    boot = paired_bootstrap(
        data.layout,
        data.metrics,
        data.methods,
        resamples=settings.resamples,
        rng=np.random.default_rng(settings.seed),
    )
    m, k = boot.point.shape
    summary = [i for i, d in enumerate(data.metrics) if d.key in settings.summary_metrics]
    compare = Comparisons(data, boot, settings, summary)
    std = np.stack([v.std(axis=0, ddof=1) if len(v) > 1 else np.full(k, np.nan) for v in boot.per_seed])
    low, high = percentile_interval(boot.samples, settings.level)
    problems = list(data.problems)
    b = names.index(settings.baseline) if settings.baseline in names else None
    raw = np.full((m, k + 1), np.nan)
    dm = dm_low = dm_high = np.full(m, np.nan)
    diff = diff_low = diff_high = np.full((m, k), np.nan)
    if b is None:
        problems.append(f"baseline {settings.baseline!r} has no finished run here: no comparisons, no Delta_m%")
    else:
        for j in range(m):
            if j != b:
                raw[j] = compare.p(j, b)
        diff = boot.point - boot.point[b]
        diff_low, diff_high = percentile_interval(boot.samples - boot.samples[:, b : b + 1], settings.level)
        dm = compare.delta(boot.point, boot.point[b])
        dm_samples = compare.delta(boot.samples, boot.samples[:, b : b + 1])
        dm_low, dm_high = percentile_interval(dm_samples, settings.level)
    groups = list(dict.fromkeys(d.group for d in data.metrics))
    adjusted = np.full_like(raw, np.nan)
    for group in groups:
        columns = [i for i, d in enumerate(data.metrics) if d.group == group]
        adjusted[:, columns] = correct(raw[:, columns], settings.correction)
    adjusted[:, k] = correct(raw[:, k], settings.correction)
    sign = np.array([d.sign for d in data.metrics])
    oriented = boot.point * sign
    best_tied, second = _best_and_second(oriented, compare, data.metrics, settings)
    mean_rank = ranks(oriented[:, summary].T).mean(axis=0) if summary else np.full(m, np.nan)
    warnings = _warnings(data, settings, b)
    notes = list(data.notes)
    if b is not None and summary:
        zero = [data.metrics[i].label for i in summary if boot.point[b, i] == 0]
        if zero:
            notes.append(f"Delta_m% leaves out {', '.join(zero)}: the baseline scores 0 there")
    return CellResult(
        title=data.title,
        metrics=data.metrics,
        methods=names,
        seeds={mm.name: len(mm.runs) for mm in data.methods},
        mean=boot.point,
        std=std,
        ci_low=low,
        ci_high=high,
        diff=diff,
        diff_low=diff_low,
        diff_high=diff_high,
        p_raw=raw[:, :k],
        p_baseline=adjusted[:, :k],
        significant=adjusted[:, :k] < settings.alpha,
        best_tied=best_tied,
        second=second,
        delta_m=dm,
        delta_m_low=dm_low,
        delta_m_high=dm_high,
        delta_m_p=adjusted[:, k],
        delta_m_significant=adjusted[:, k] < settings.alpha,
        mean_rank=mean_rank,
        summary=summary,
        n_examples=data.n_examples,
        baseline=settings.baseline if b is not None else None,
        labeler=data.labeler,
        uncertain=data.uncertain,
        tuning=data.tuning,
        notes=notes,
        warnings=warnings,
        problems=problems,
    )


def _best_and_second(
    oriented: np.ndarray, compare: Comparisons, metrics: Sequence[MetricDef], settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """Bold: not significantly worse than the best (same test, corrected per group); underline: second mean."""
    m, k = oriented.shape
    best = oriented.argmax(axis=0)
    p = np.full((m, k), np.nan)
    for column in range(k):
        for j in range(m):
            if j != best[column]:
                p[j, column] = compare.p(j, int(best[column]))[column]  # p is symmetric in the metrics
    tied = np.zeros((m, k), bool)
    for group in dict.fromkeys(d.group for d in metrics):
        columns = [i for i, d in enumerate(metrics) if d.group == group]
        tied[:, columns] = ~(correct(p[:, columns], settings.correction) < settings.alpha)
    return tied, second_best(oriented)


def second_best(oriented: np.ndarray) -> np.ndarray:
    """[M, K] True for every method with the second-highest distinct mean of a column (ties share
    the mark; a column where all methods tie has no second)."""
    second = np.zeros(oriented.shape, bool)
    for column in range(oriented.shape[1]):
        values = oriented[:, column]
        best = values.max()
        below = values[~np.isclose(values, best, rtol=1e-12, atol=1e-15)]
        if below.size:
            second[:, column] = np.isclose(values, below.max(), rtol=1e-12, atol=1e-15)
    return second


def _warnings(data: CellData, settings: Settings, b: int | None) -> list[str]:
    """What the reader must know about the power and scope of this cell's test."""
    seeds = [len(mm.runs) for mm in data.methods]
    out: list[str] = []
    if settings.test == "bootstrap":
        if min(seeds) == 1:
            out.append("a method with a single seed: its seed variation cannot be estimated and is left out")
        elif min(seeds) < FEW_SEEDS:
            out.append(
                f"only {min(seeds)} seeds for some method: the bootstrap's seed level rests on very few values "
                f"and is anti-conservative when seeds vary a lot; use {FEW_SEEDS} or more"
            )
    elif settings.test == "randomization":
        out.append("approximate randomization tests these trained runs on this test set; it ignores seed variation")
        if b is not None:
            for mm in data.methods:
                base = data.methods[b]
                shared = set(mm.seeds) & set(base.seeds)
                if mm is not base and len(shared) < max(len(mm.seeds), len(base.seeds)):
                    how = "the test uses those runs only" if shared else "runs are paired by position"
                    out.append(f"{mm.name} shares {len(shared)} seeds with the baseline: {how}")
    else:
        out.append("per-seed tests ignore the test-set sampling variation")
        if b is not None:
            groups = {d.group for d in data.metrics}
            family = max(sum(1 for d in data.metrics if d.group == g) for g in groups) * (len(data.methods) - 1)
            family = family if settings.correction == "holm" else 1
            base = data.methods[b]
            for mm in data.methods:
                if mm is base:
                    continue
                pairs = len(paired_runs(mm.seeds, base.seeds))
                text = few_seeds_warning(
                    settings.test, len(mm.runs), len(base.runs), pairs, settings.alpha, max(family, 1)
                )
                if text:
                    out.append(text)
    return list(dict.fromkeys(out))


def analyse(cells: Sequence[Cell], settings: Settings) -> tuple[list[CellResult], list[str]]:
    """Results of every cell with something to compare, and one line per cell without."""
    results, skipped = [], []
    for cell in cells:
        result = analyse_cell(cell, settings)
        if isinstance(result, str):
            skipped.append(f"{cell.key.title}: {result}")
        else:
            results.append(result)
    return results, skipped
