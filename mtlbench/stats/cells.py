"""Per-cell analysis: test every method against the baseline and the best, over declared families.

Families of the multiple-comparison correction, each stated in its table's caption: within one
cell, the comparisons with the baseline of each metric group's table (methods x metrics) form one
family, Delta_m% another; "not significantly worse than the best" is decided by the same test and
correction over the group's (method, metric) comparisons with each metric's best method.

Whatever the test, the crossed design's variance components (:mod:`mtlbench.stats.components`)
give every comparison a standard error, degrees of freedom, an interval, the minimum detectable
effect at the chosen power and the Bayesian ROPE probabilities; the test chosen decides the
p-values and the daggers. Intervals of differences: simultaneous at 1 - alpha from the max-T
distribution with --correction maxt (the default), per-comparison otherwise; the caption says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from mtlbench.stats.across import delta_m, ranks
from mtlbench.stats.bayes import oriented, t_posterior
from mtlbench.stats.bootstrap import BootstrapResult, paired_bootstrap, percentile_interval, two_sided_p
from mtlbench.stats.catalogue import DELTA_M, MetricDef
from mtlbench.stats.components import Components, contrast_covariance, difference, estimate, linearised
from mtlbench.stats.correction import correct
from mtlbench.stats.crossed import TTests, crossed_t
from mtlbench.stats.loading import CellData, load_cell
from mtlbench.stats.maxt import parametric_maxt
from mtlbench.stats.power import critical_value, minimum_detectable_effect
from mtlbench.stats.randomization import paired_randomization, paired_runs, run_randomization, smallest_run_p
from mtlbench.stats.seedtests import few_seeds_warning, seed_test_p
from mtlbench.stats.settings import Settings
from mtlbench.stats.store import Cell

SEED_DOMINATED = 0.5
"""Seed share of a difference's variance above which the old two-level bootstrap is anti-conservative."""
TEST_SET_SHARE = 0.1
"""Test-set share of a difference's variance above which per-seed tests are anti-conservative: they
leave it out, so their statistic's variance is 1 / (1 - share) times what they assume, and a z-test
at 0.05 then rejects more than 6.5% of true nulls beyond a share of about 0.11."""

Triple = tuple[int, int, int]
"""(method, compared with, column); column K is Delta_m%."""


@dataclass(frozen=True)
class Family:
    """Comparisons corrected together, as the caption declares them."""

    size: int
    description: str
    """Which comparisons, e.g. "17 methods x 7 NLG metrics, each against ls"."""


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
    """Per-method interval of the mean over seeds at ``Settings.level`` (crossed-design t; the
    percentile interval with --test bootstrap)."""
    diff: np.ndarray
    """Mean minus the baseline's mean (NaN without a baseline)."""
    diff_low: np.ndarray
    diff_high: np.ndarray
    """Interval of the difference to the baseline, as ``interval`` says: simultaneous at 1 - alpha
    over the table's family with max-T, per-comparison at ``Settings.level`` otherwise."""
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
    # Columns [K + 1] below: the K metrics, then Delta_m%.
    diff_se: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    """[M, K + 1] standard error of the difference to the baseline (crossed design)."""
    diff_df: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    """[M, K + 1] its Welch-Satterthwaite degrees of freedom."""
    seed_share: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    """[M, K + 1] share of its variance estimated from the runs' full-test-set values (seed-to-seed
    variation with one copy of each run's test-set noise; few df); the rest is the shared test set."""
    mde: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    """[M, K + 1] minimum detectable effect at ``Settings.power`` at the level of the dagger."""
    bayes: np.ndarray = field(default_factory=lambda: np.empty((0, 0, 3)))
    """[M, K + 1, 3] posterior P(worse by more than the ROPE), P(equivalent), P(better)."""
    rope: np.ndarray = field(default_factory=lambda: np.empty(0))
    """[K + 1] ROPE half-width of each column, in raw units (Delta_m%: percent)."""
    delta_m_p_raw: np.ndarray = field(default_factory=lambda: np.empty(0))
    """[M] uncorrected p-values of Delta_m% != 0."""
    families: dict[str, Family] = field(default_factory=dict)
    """Per metric group, and DELTA_M: the family its daggers are corrected over."""
    interval: str = ""
    """What the intervals of differences are, in one phrase for the captions."""
    smallest_p: float = 0.0
    """The smallest p-value the test can give here (0: unbounded)."""
    reference: str | None = None
    """The second reference of Delta_m% (``Settings.reference``) when the cell has it."""
    delta_ref: np.ndarray = field(default_factory=lambda: np.empty(0))
    """[M] Delta_m% against ``reference`` (NaN for the reference itself and without one)."""
    delta_ref_low: np.ndarray = field(default_factory=lambda: np.empty(0))
    delta_ref_high: np.ndarray = field(default_factory=lambda: np.empty(0))
    """Per-comparison crossed-design t intervals at ``Settings.level`` (no test, no dagger)."""

    def index(self, key: str) -> int:
        """Column of the metric ``key``."""
        return [d.key for d in self.metrics].index(key)


class Comparisons:
    """Comparisons of method pairs under the chosen test, with the crossed design's components.

    A column is a metric (0..K-1) or Delta_m% of the first method against the second (K).
    """

    def __init__(
        self, data: CellData, boot: BootstrapResult, components: Components, settings: Settings, summary: list[int]
    ) -> None:
        self.data, self.boot, self.components, self.settings, self.summary = data, boot, components, settings, summary
        self.higher = [data.metrics[k].higher_is_better for k in summary]
        self.tasks = [data.metrics[k].task for k in summary]  # Delta_m% averages over trained tasks
        self.m, self.k = boot.point.shape
        self.cache: dict[tuple[int, int], np.ndarray] = {}

    def delta(self, method: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        return delta_m(method[..., self.summary], baseline[..., self.summary], self.higher, self.tasks)

    def contrast(self, triple: Triple) -> np.ndarray:
        j, b, column = triple
        if column < self.k:
            return difference(self.m, self.k, j, b, column)
        return linearised(self.delta, self.boot.point, j, b)

    def estimate(self, triple: Triple) -> float:
        j, b, column = triple
        point = self.boot.point
        return float(point[j, column] - point[b, column] if column < self.k else self.delta(point[j], point[b]))

    def crossed(self, triples: Sequence[Triple]) -> TTests:
        contrasts = np.array([self.contrast(t) for t in triples]).reshape(len(triples), self.m, self.k)
        return crossed_t(self.components, contrasts, np.array([self.estimate(t) for t in triples]))

    def raw(self, triples: Sequence[Triple]) -> np.ndarray:
        """[F] uncorrected p-values of the chosen test."""
        if self.settings.test == "crossed":
            return self.crossed(triples).p
        return np.array([self.pair(j, b)[column] for j, b, column in triples])

    def pair(self, j: int, b: int) -> np.ndarray:
        """[K + 1] p-values of the chosen (non-crossed) test for one pair, computed once."""
        if (j, b) not in self.cache:
            self.cache[(j, b)] = self._compute(j, b)
        return self.cache[(j, b)]

    def _compute(self, j: int, b: int) -> np.ndarray:
        test = self.settings.test
        extra = lambda x, y: self.delta(x, y)[..., None]  # noqa: E731
        if test == "bootstrap":
            samples = self.boot.samples
            diff = samples[:, j] - samples[:, b]
            return two_sided_p(np.concatenate([diff, self.delta(samples[:, j], samples[:, b])[:, None]], axis=1))
        a, c = self.data.methods[j], self.data.methods[b]
        if test == "randomization":
            if len(a.runs) == 1 and len(c.runs) == 1:
                return paired_randomization(
                    self.data.layout,
                    self.data.metrics,
                    a.runs,
                    c.runs,
                    rounds=self.settings.resamples,
                    rng=np.random.default_rng([self.settings.seed, 1]),  # the same swaps for every pair
                    extra=extra,
                )
            pairs = paired_runs(a.seeds, c.seeds)
            return run_randomization(
                self.boot.per_seed[j][[i for i, _ in pairs]],
                self.boot.per_seed[b][[i for _, i in pairs]],
                rounds=self.settings.resamples,
                rng=np.random.default_rng([self.settings.seed, 1]),
                extra=extra,
            )
        base_point = self.boot.point[b]
        values_a = np.column_stack([self.boot.per_seed[j], self.delta(self.boot.per_seed[j], base_point)])
        values_b = np.column_stack([self.boot.per_seed[b], self.delta(self.boot.per_seed[b], base_point)])
        return seed_test_p(test, values_a, values_b, list(a.seeds), list(c.seeds))

    def family(self, triples: Sequence[Triple]) -> tuple[np.ndarray, np.ndarray, TTests, np.ndarray]:
        """(raw p, adjusted p, crossed t-tests, critical value of each comparison) of one family.

        The critical value multiplies the standard error for the interval and the minimum
        detectable effect: the max-T quantile with maxt, t at alpha / m with Holm (its first, strictest
        step), t at alpha with BH (its most lenient step).
        """
        settings = self.settings
        tests = self.crossed(triples)
        raw = tests.p if settings.test == "crossed" else self.raw(triples)
        members = int(np.sum(~np.isnan(raw)))
        correction = settings.family_correction
        if correction == "maxt":
            contrasts = np.array([self.contrast(t) for t in triples]).reshape(len(triples), self.m, self.k)
            covariance = contrast_covariance(self.components, contrasts)
            scale = np.sqrt(np.clip(np.diag(covariance), 1e-300, None))
            result = parametric_maxt(
                tests.t,
                tests.df,
                covariance / np.outer(scale, scale),
                alpha=settings.alpha,
                draws=settings.resamples,
                rng=np.random.default_rng([settings.seed, 2]),
            )
            return raw, result.adjusted, tests, result.critical
        adjusted = correct(raw, correction)
        level = settings.alpha / max(members, 1) if correction == "holm" else settings.alpha
        return raw, adjusted, tests, critical_value(level, tests.df)


def _order(data: CellData, baseline: str) -> None:
    """Baseline first, the others alphabetically: the row order of every table."""
    data.methods.sort(key=lambda m: (m.name != baseline, m.name))


def cell_bootstrap(data: CellData, settings: Settings, *, two_level: bool = False) -> BootstrapResult:
    """The cell's paired example bootstrap, drawn from the settings' seed; seeds resampled too only for
    the former default (``two_level``)."""
    return paired_bootstrap(
        data.layout,
        data.metrics,
        data.methods,
        resamples=settings.resamples,
        rng=np.random.default_rng(settings.seed),
        resample_seeds=two_level,
    )


def analyse_cell(cell: Cell, settings: Settings) -> CellResult | str:
    """The statistics of one cell, or a one-line reason why there are none."""
    loaded = load_cell(cell)
    if isinstance(loaded, str):
        return loaded
    data = loaded
    _order(data, settings.baseline)
    names = [m.name for m in data.methods]
    boot = cell_bootstrap(data, settings, two_level=settings.test == "bootstrap")
    components = estimate(boot)
    m, k = boot.point.shape
    summary = [i for i, d in enumerate(data.metrics) if d.key in settings.summary_metrics]
    compare = Comparisons(data, boot, components, settings, summary)
    std = np.stack([v.std(axis=0, ddof=1) if len(v) > 1 else np.full(k, np.nan) for v in boot.per_seed])
    low, high = _mean_intervals(compare, settings)
    problems = list(data.problems)
    b = names.index(settings.baseline) if settings.baseline in names else None
    columns = k + 1
    raw = np.full((m, columns), np.nan)
    adjusted = np.full((m, columns), np.nan)
    se = np.full((m, columns), np.nan)
    df = np.full((m, columns), np.nan)
    share = np.full((m, columns), np.nan)
    pure = np.full((m, columns), np.nan)
    critical = np.full((m, columns), np.nan)
    diff = np.full((m, columns), np.nan)
    families: dict[str, Family] = {}
    groups = list(dict.fromkeys(d.group for d in data.metrics))
    if b is None:
        problems.append(f"baseline {settings.baseline!r} has no finished run here: no comparisons, no Delta_m%")
    else:
        others = [j for j in range(m) if j != b]
        for group in [*groups, DELTA_M]:
            group_columns = [k] if group == DELTA_M else [i for i, d in enumerate(data.metrics) if d.group == group]
            if group == DELTA_M and not summary:
                continue
            triples = [(j, b, c) for j in others for c in group_columns]
            if not triples:
                continue
            p, p_adjusted, tests, crit = compare.family(triples)
            rows, cols = [t[0] for t in triples], [t[2] for t in triples]
            raw[rows, cols], adjusted[rows, cols] = p, p_adjusted
            se[rows, cols], df[rows, cols], share[rows, cols] = tests.se, tests.df, tests.parts.seed_share
            pure[rows, cols] = tests.parts.pure_seed_share
            critical[rows, cols], diff[rows, cols] = crit, tests.estimate
            what = "Δm%" if group == DELTA_M else f"{len(group_columns)} {group} metrics"
            plural = "s" if len(others) != 1 else ""
            description = f"{len(others)} method{plural} x {what}, each against {settings.baseline}"
            families[group] = Family(int(np.sum(~np.isnan(p))), description)
    if b is not None:
        diff[b] = 0.0  # the baseline against itself; no interval, no test
    diff_low, diff_high = _difference_intervals(compare, diff, se, df, critical, b, settings)
    rope = np.array(
        [settings.rope_points(d.key, d.group) / 100 for d in data.metrics] + [settings.rope_points(DELTA_M, DELTA_M)]
    )
    posterior = t_posterior(diff, se, df, rope)
    directions = [d.higher_is_better for d in data.metrics] + [True]
    bayes = np.stack([oriented(posterior[:, c], directions[c]) for c in range(columns)], axis=1)
    mde = minimum_detectable_effect(se, df, critical, settings.power)
    sign = np.array([d.sign for d in data.metrics])
    oriented_means = boot.point * sign
    best_tied, second = _best_and_second(oriented_means, compare, data.metrics, settings)
    mean_rank = ranks(oriented_means[:, summary].T).mean(axis=0) if summary else np.full(m, np.nan)
    warnings, smallest = _warnings(data, settings, b, share, pure)
    notes = list(data.notes)
    if b is not None and summary:
        zero = [data.metrics[i].label for i in summary if boot.point[b, i] == 0]
        if zero:
            notes.append(f"Delta_m% leaves out {', '.join(zero)}: the baseline scores 0 there")
    reference, delta_ref, ref_low, ref_high = _against_reference(compare, names, settings, problems)
    return CellResult(
        reference=reference,
        delta_ref=delta_ref,
        delta_ref_low=ref_low,
        delta_ref_high=ref_high,
        title=data.title,
        metrics=data.metrics,
        methods=names,
        seeds={mm.name: len(mm.runs) for mm in data.methods},
        mean=boot.point,
        std=std,
        ci_low=low,
        ci_high=high,
        diff=diff[:, :k],
        diff_low=diff_low[:, :k],
        diff_high=diff_high[:, :k],
        p_raw=raw[:, :k],
        p_baseline=adjusted[:, :k],
        significant=adjusted[:, :k] < settings.alpha,
        best_tied=best_tied,
        second=second,
        delta_m=diff[:, k],
        delta_m_low=diff_low[:, k],
        delta_m_high=diff_high[:, k],
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
        diff_se=se,
        diff_df=df,
        seed_share=share,
        mde=mde,
        bayes=bayes,
        rope=rope,
        delta_m_p_raw=raw[:, k],
        families=families,
        interval=interval_phrase(settings),
        smallest_p=smallest,
    )


def _against_reference(
    compare: Comparisons, names: list[str], settings: Settings, problems: list[str]
) -> tuple[str | None, np.ndarray, np.ndarray, np.ndarray]:
    """Delta_m% of every method against ``settings.reference`` with a per-comparison interval.

    The same Delta_m% as against the baseline (over the trained tasks), the reference's row in the
    denominator; its interval is the crossed-design t interval of that contrast at ``Settings.level``.
    It is an effect size beside the tested Delta_m%, not another family of tests.
    """
    m = len(names)
    empty = np.full(m, np.nan)
    if not settings.reference or not compare.summary:
        return None, empty, empty.copy(), empty.copy()
    if settings.reference not in names:
        problems.append(f"reference {settings.reference!r} has no finished run here: no Delta_m% against it")
        return None, empty, empty.copy(), empty.copy()
    r = names.index(settings.reference)
    k = compare.k
    others = [j for j in range(m) if j != r]
    point, low, high = empty.copy(), empty.copy(), empty.copy()
    if others:
        tests = compare.crossed([(j, r, k) for j in others])
        half = tests.half_width(settings.level)
        point[others] = tests.estimate
        low[others], high[others] = tests.estimate - half, tests.estimate + half
    return settings.reference, point, low, high


def interval_phrase(settings: Settings) -> str:
    """What the intervals of differences are, for the captions."""
    if settings.test == "bootstrap":
        level = round(100 * settings.level)
        return f"per-comparison {level}% percentile intervals of the two-level bootstrap, NOT adjusted for the family"
    source = "" if settings.test == "crossed" else " (crossed-design t, not the test's own)"
    if settings.family_correction == "maxt":
        return (
            f"simultaneous {100 * (1 - settings.alpha):g}% intervals over each table's family{source}, from the same "
            "max-T distribution as the dagger (single-step, so a dagger can stand beside an interval that touches 0)"
        )
    return f"per-comparison {round(100 * settings.level)}% intervals{source}, NOT adjusted for the table's family"


def _mean_intervals(compare: Comparisons, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Per-method intervals of the mean over seeds."""
    boot = compare.boot
    if settings.test == "bootstrap":
        return percentile_interval(boot.samples, settings.level)
    m, k = boot.point.shape
    units = np.zeros((m * k, m, k))
    units[np.arange(m * k), np.repeat(np.arange(m), k), np.tile(np.arange(k), m)] = 1.0
    tests = crossed_t(compare.components, units, boot.point.reshape(-1))
    half = tests.half_width(settings.level).reshape(m, k)
    return boot.point - half, boot.point + half


def _difference_intervals(
    compare: Comparisons,
    diff: np.ndarray,
    se: np.ndarray,
    df: np.ndarray,
    critical: np.ndarray,
    b: int | None,
    settings: Settings,
) -> tuple[np.ndarray, np.ndarray]:
    """Intervals of the differences to the baseline, by the convention of :func:`interval_phrase`."""
    if b is None:
        return np.full(diff.shape, np.nan), np.full(diff.shape, np.nan)
    if settings.test == "bootstrap":
        samples = compare.boot.samples
        differences = samples - samples[:, b : b + 1]
        delta = compare.delta(samples, samples[:, b : b + 1])
        low, high = percentile_interval(np.concatenate([differences, delta[..., None]], axis=2), settings.level)
        low[b], high[b] = np.nan, np.nan
        return low, high
    if settings.family_correction == "maxt":
        half = critical * se
    else:
        half = stats.t.ppf(0.5 + settings.level / 2, df) * se
    return diff - half, diff + half


def _best_and_second(
    oriented_means: np.ndarray, compare: Comparisons, metrics: Sequence[MetricDef], settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """Bold: not significantly worse than the best (same test, corrected per group); underline: second mean."""
    m, k = oriented_means.shape
    best = oriented_means.argmax(axis=0)
    tied = np.ones((m, k), bool)
    for group in dict.fromkeys(d.group for d in metrics):
        columns = [i for i, d in enumerate(metrics) if d.group == group]
        triples = [(j, int(best[c]), c) for c in columns for j in range(m) if j != best[c]]
        if not triples:
            continue
        _, adjusted, _, _ = compare.family(triples)
        for (j, _, c), p in zip(triples, adjusted):
            tied[j, c] = not p < settings.alpha
    return tied, second_best(oriented_means)


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


def _test_set_warning(why: str, seed_share: float) -> str:
    return (
        f"the test set carries {100 * (1 - seed_share):.0f}% of the variance of the differences here (median over "
        f"comparisons): {why}, so the test is anti-conservative for differences that hold over test sets; "
        "use --test crossed"
    )


def _median(values: np.ndarray) -> float:
    return float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan")


def _warnings(
    data: CellData, settings: Settings, b: int | None, share: np.ndarray, pure: np.ndarray
) -> tuple[list[str], float]:
    """What the reader must know about the calibration and power of this cell's test, and the
    smallest p-value it can give (0 where unbounded). ``share``: the runs' share of each difference's
    variance; ``pure``: the share of training randomness alone (both median over comparisons)."""
    seeds = [len(mm.runs) for mm in data.methods]
    out: list[str] = []
    smallest = 0.0
    seed_share, pure_share = _median(share), _median(pure)
    if min(seeds) == 1 and settings.test in ("crossed", "bootstrap"):
        out.append(
            "a method with a single seed: its seed variation cannot be estimated and is left out, so its "
            "comparisons test these trained runs, not the method"
        )
    if settings.test == "bootstrap":
        if min(seeds) > 1 and pure_share > SEED_DOMINATED and min(seeds) < 10:
            out.append(
                f"seeds carry {100 * pure_share:.0f}% of the variance of the differences here (median over "
                f"comparisons): with {min(seeds)} seeds the two-level percentile bootstrap is anti-conservative "
                "in this regime (benchmarks/stats_calibration.md); the default --test crossed is calibrated"
            )
        elif min(seeds) > 1 and pure_share < 1 - SEED_DOMINATED:
            out.append(
                "the two-level bootstrap counts each run's test-set noise twice: conservative here, where training "
                f"randomness carries {100 * pure_share:.0f}% of the variance; the default --test crossed is not"
            )
    elif settings.test == "randomization" and b is not None:
        if np.isfinite(seed_share) and 1 - seed_share > TEST_SET_SHARE and max(seeds) > 1:
            out.append(_test_set_warning("exchanging whole runs conditions on these test examples", seed_share))
        base = data.methods[b]
        for mm in data.methods:
            if mm is base:
                continue
            shared = set(mm.seeds) & set(base.seeds)
            if len(mm.runs) == 1 and len(base.runs) == 1:
                out.append(
                    f"{mm.name} and {base.name} have one seed each: outputs are exchanged per test example, which "
                    "tests these two trained runs on this test set, not the methods"
                )
                continue
            pairs = len(paired_runs(mm.seeds, base.seeds))
            floor = smallest_run_p(pairs)
            smallest = max(smallest, floor)
            if len(shared) < max(len(mm.seeds), len(base.seeds)):
                how = "the test uses those runs only" if shared else "runs are paired by position"
                out.append(f"{mm.name} shares {len(shared)} seeds with the baseline: {how}")
            if floor >= settings.alpha:
                out.append(
                    f"whole runs are exchanged within {pairs} seed pairs: the smallest attainable p is {floor:.3g}, so "
                    f"nothing can be significant at alpha {settings.alpha:g}; use 6 or more seeds"
                )
    elif settings.per_seed:
        if np.isfinite(seed_share) and 1 - seed_share > TEST_SET_SHARE:
            out.append(_test_set_warning("per-seed tests leave it out", seed_share))
        else:
            out.append("per-seed tests ignore the test-set sampling variation")
        if b is not None:
            groups = {d.group for d in data.metrics}
            family = max(sum(1 for d in data.metrics if d.group == g) for g in groups) * (len(data.methods) - 1)
            family = family if settings.family_correction == "holm" else 1
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
    return list(dict.fromkeys(out)), smallest


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
