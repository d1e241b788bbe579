"""A leaderboard document: the analysed cells and the across-cell ranking, as format-neutral tables.

Every output format (terminal, Markdown, LaTeX, CSV, HTML) renders the same :class:`Table`
objects, so the figures, marks and captions cannot drift apart between formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mtlbench import __version__
from mtlbench.errors import MtlbenchError
from mtlbench.stats.catalogue import DELTA_M, GROUPS
from mtlbench.stats.cells import CellResult, analyse
from mtlbench.stats.ranking import Ranking, rank_across
from mtlbench.stats.settings import Settings
from mtlbench.stats.store import scan

GROUP_TITLES = {
    "NLG": "NLG metrics",
    "CE": "clinical efficacy (CE) metrics",
    "MODEL": "model-based metrics (BERTScore, SembScore, RadGraph F1, RadCliQ-v1)",
    "CLS": "cls task (the classification head's own test metrics: 14 findings, threshold 0.5 for F1)",
    "ALIGN": "align task (retrieval recall@k of the alignment head, image-to-report and report-to-image)",
}


@dataclass(frozen=True)
class Entry:
    """One table cell: plain text and the marks each format shows in its own way."""

    text: str
    bold: bool = False
    underline: bool = False
    dagger: bool = False
    tip: str = ""
    """Extra detail (CI, p-value) a format may show on demand (HTML tooltip)."""


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[Entry]]
    caption: str
    legend: bool = True
    """Whether the marks legend applies (tables with bold/underline/dagger)."""


@dataclass
class Section:
    title: str
    tables: list[Table] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    """Warnings, notes and problems, one sentence each."""
    problems: list[str] = field(default_factory=list)


@dataclass
class Report:
    results: str
    settings: Settings
    cells: list[CellResult]
    skipped: list[str]
    ranking: Ranking | str

    @property
    def empty(self) -> bool:
        return not self.cells


def build_report(results: Path, settings: Settings, *, require_baseline: bool = True) -> Report:
    """Analyse every cell of the store at ``results`` and rank the methods across cells.

    With ``require_baseline``, a baseline that no cell has is an error (a typo, most often).
    """
    cells, skipped = analyse(scan(Path(results)), settings)
    if require_baseline and cells and all(c.baseline is None for c in cells):
        methods = sorted({m for c in cells for m in c.methods})
        raise MtlbenchError(
            f"baseline {settings.baseline!r} has no finished run in {results}; "
            f"pass --baseline with one of: {', '.join(methods)}"
        )
    ranking = rank_across(cells, settings) if cells else "no cell to rank"
    return Report(str(results), settings, cells, skipped, ranking)


def header_line(report: Report) -> str:
    return (
        f"mtlbench {__version__} leaderboard of {report.results}; "
        f"reproduce with: {report.settings.command(report.results)}"
    )


def _seed_text(result: CellResult) -> str:
    counts = sorted(set(result.seeds.values()))
    return f"{counts[0]} seeds" if len(counts) == 1 else f"{counts[0]}-{counts[-1]} seeds (see the seeds column)"


def test_description(result: CellResult, settings: Settings) -> str:
    if settings.test == "crossed":
        return (
            "crossed-design t-test (seeds x the same test examples: standard error from the seed part, the "
            f"runs' full-test-set values, plus the test-set part, a paired bootstrap of the {result.n_examples} "
            f"test examples with every seed kept, {settings.resamples} resamples, each run's own test-set noise "
            "counted once; Welch-Satterthwaite degrees of freedom; corpus metrics recomputed from per-example "
            "statistics on every resample)"
        )
    if settings.test == "bootstrap":
        return (
            f"two-level paired bootstrap, {settings.resamples} resamples (each method's seeds resampled, the seed "
            "level rescaled by sqrt(S/(S-1)) against the small-sample bias; "
            f"the {result.n_examples} test examples resampled with the same indices for every method; "
            "corpus metrics recomputed from per-example statistics on every resample)"
        )
    if settings.test == "randomization":
        floor = f"; smallest attainable p {result.smallest_p:.3g}" if result.smallest_p > 0 else ""
        return (
            "randomization test (whole seed-matched runs exchanged, every swap enumerated up to 16 pairs; "
            f"outputs exchanged per test example only where each method has one seed{floor})"
        )
    return settings.test_name


def _context(result: CellResult, settings: Settings) -> str:
    return (
        f"CE labeler: {result.labeler}; uncertain findings counted as {result.uncertain}. "
        f"Tuning budget: {result.tuning}."
    )


def family_text(result: CellResult, settings: Settings, key: str) -> str:
    """The correction and the family it runs over, as a caption states them."""
    family = result.families.get(key)
    if family is None:
        return "no comparisons (no baseline)"
    return f"{settings.correction_name} over a family of {family.size} comparisons ({family.description})"


def _warning_text(result: CellResult) -> str:
    return "".join(f" Warning: {w}." for w in result.warnings)


def group_caption(result: CellResult, settings: Settings, group: str, family: int = 0) -> str:
    baseline = result.baseline or settings.baseline
    columns = sum(1 for d in result.metrics if d.group == group)
    best_family = max(len(result.methods) - 1, 0) * columns
    text = (
        f"{result.title}, {GROUP_TITLES.get(group, group)}: mean ± std over {_seed_text(result)} of each run's "
        f"corpus figure on {result.n_examples} test examples, x100; arrows give each metric's direction. "
        f"Test: {test_description(result, settings)}, two-sided, against {baseline}, alpha {settings.alpha:g}, "
        f"{family_text(result, settings, group)}. "
        f"† significantly different from {baseline}; bold: not significantly worse than the best (same test, "
        f"{settings.correction_name} over this table's {best_family} comparisons with each metric's best method); "
        f"underline: second-best mean. Intervals (on hover): {result.interval}. "
        f"{_context(result, settings)}{_warning_text(result)}"
    )
    return text


def summary_caption(result: CellResult, settings: Settings) -> str:
    tasks = list(dict.fromkeys(result.metrics[i].task for i in result.summary))
    per_task = "; ".join(
        f"{task}: {', '.join(result.metrics[i].label for i in result.summary if result.metrics[i].task == task)}"
        for task in tasks
    )
    baseline = result.baseline or settings.baseline
    return (
        f"{result.title}, MTL summary. Δm% = 100 x mean over the trained tasks ({', '.join(tasks)}) of the mean over "
        f"each task's metrics ({per_task}) of s (M - B) / |B|, s = +1 for ↑ metrics and -1 for ↓ ones "
        "(the NLG and CE metrics both score the generated report, one task): "
        f"positive = better than {baseline} (LibMTL's sign; Nash-MTL and FAMO print the negative). "
        f"Intervals: {result.interval}. † Δm% differs from 0 by the {settings.test_name}, "
        f"{family_text(result, settings, DELTA_M)}. "
        f"{_reference_text(result, settings)}"
        "Mean rank over the same metrics (1 = best); it depends on which methods are in the pool, so read it "
        f"beside Δm%. {_context(result, settings)}"
    )


def _reference_text(result: CellResult, settings: Settings) -> str:
    """What the second Delta_m% column is, when the report asked for one."""
    if not result.reference:
        return ""
    single = (
        " (the single-task models: each task's metrics from the model trained on that task alone, joined per seed)"
        if result.reference == "stl"
        else ""
    )
    return (
        f"Δm% vs {result.reference}: the same Δm% with {result.reference}{single} as the reference, and a "
        f"per-comparison {round(100 * settings.level)}% crossed-design t interval; an effect size, not tested. "
    )


def _mde_phrase(result: CellResult, settings: Settings) -> str:
    level = {
        "maxt": "the max-T critical value of its family",
        "holm": "alpha / family size (Holm's first step)",
        "bh": "alpha (Benjamini-Hochberg's most lenient step)",
    }[settings.family_correction]
    return (
        f"MDE: the smallest true difference a dagger would catch with probability {settings.power:g} (crossed-design "
        f"t with these seeds and {result.n_examples} test examples, at {level}); median over the methods, each "
        "method's own on hover and in the CSV"
    )


def effect_caption(result: CellResult, settings: Settings) -> str:
    baseline = result.baseline or settings.baseline
    families = "; ".join(
        f"{'Δm%' if key == DELTA_M else key}: {family_text(result, settings, key)}" for key in result.families
    )
    return (
        f"{result.title}, effect sizes against {baseline}: difference of means over seeds (x100; Δm% in percent, "
        f"positive = better) with {result.interval}. † as in the tables below ({settings.test_name}, alpha "
        f"{settings.alpha:g}; {families}). {_mde_phrase(result, settings)}. Read a non-significant difference "
        f"beside its MDE: below it, the cell could not have detected it.{_warning_text(result)}"
    )


def bayes_caption(result: CellResult, settings: Settings) -> str:
    baseline = result.baseline or settings.baseline
    ropes = (
        ", ".join(f"{result.metrics[i].label} ±{100 * result.rope[i]:g}" for i in result.summary)
        + f", Δm% ±{result.rope[-1]:g}%"
    )
    return (
        f"{result.title}, Bayesian second opinion (Benavoli et al. 2017): posterior probabilities that each method "
        f"is practically worse / equivalent / better than {baseline}, the region of practical equivalence (ROPE) "
        f"being {ropes} (points x100; stated defaults, set with --rope before looking at results). Posterior: "
        "Student t with the crossed design's estimate, standard error and degrees of freedom (a Bayesian correlated "
        "t-test whose correlation between runs, the shared test set, is estimated)."
    )


def _metric_entry(result: CellResult, i: int, k: int, settings: Settings) -> Entry:
    mean, std = 100 * result.mean[i, k], 100 * result.std[i, k]
    text = f"{mean:.2f}" if np.isnan(std) else f"{mean:.2f} ± {std:.2f}"
    tip = f"{round(100 * settings.level)}% CI [{100 * result.ci_low[i, k]:.2f}, {100 * result.ci_high[i, k]:.2f}]"
    if not np.isnan(result.p_baseline[i, k]):
        tip += (
            f"; vs {result.baseline}: {100 * result.diff[i, k]:+.2f} [{100 * result.diff_low[i, k]:+.2f}, "
            f"{100 * result.diff_high[i, k]:+.2f}], p = {result.p_raw[i, k]:.3g}, "
            f"corrected {result.p_baseline[i, k]:.3g}"
        )
    return Entry(
        text,
        bold=bool(result.best_tied[i, k]),
        underline=bool(result.second[i, k]),
        dagger=bool(result.significant[i, k]),
        tip=tip,
    )


def _effect_entry(result: CellResult, i: int, column: int, percent: bool) -> Entry:
    scale = 1.0 if percent else 100.0
    delta = result.delta_m[i] if percent else result.diff[i, column]
    low = result.delta_m_low[i] if percent else result.diff_low[i, column]
    high = result.delta_m_high[i] if percent else result.diff_high[i, column]
    significant = result.delta_m_significant[i] if percent else result.significant[i, column]
    p = result.delta_m_p[i] if percent else result.p_baseline[i, column]
    if np.isnan(delta):
        return Entry("n/a")
    c = len(result.metrics) if percent else column
    tip = f"p = {p:.3g} (corrected)" if not np.isnan(p) else ""
    if result.mde.size:
        tip += f"; MDE {scale * result.mde[i, c]:.2f}; df {result.diff_df[i, c]:.1f}"
    interval = "" if np.isnan(low) else f" [{scale * low:+.2f}, {scale * high:+.2f}]"
    return Entry(f"{scale * delta:+.2f}{interval}", dagger=bool(significant), tip=tip.strip("; "))


def effect_table(result: CellResult, settings: Settings) -> Table | None:
    """Per method against the baseline: the differences a reviewer reads first, and the cell's MDE."""
    if result.baseline is None or not result.summary:
        return None
    b = result.methods.index(result.baseline)
    header = ["method", "seeds", *(f"{result.metrics[k].label} {result.metrics[k].arrow}" for k in result.summary)]
    header.append("Δm% ↑")
    rows = []
    for i, name in enumerate(result.methods):
        if i == b:
            continue
        cells = [_effect_entry(result, i, k, False) for k in result.summary]
        rows.append([Entry(name), Entry(str(result.seeds[name])), *cells, _effect_entry(result, i, 0, True)])
    others = [i for i in range(len(result.methods)) if i != b]
    mde = []
    for column, scale in [*((k, 100.0) for k in result.summary), (len(result.metrics), 1.0)]:
        values = result.mde[others, column] if result.mde.size else np.array([np.nan])
        mde.append(Entry("n/a" if np.isnan(values).all() else f"{scale * np.nanmedian(values):.2f}"))
    rows.append([Entry(f"MDE ({round(100 * settings.power)}% power)"), Entry(""), *mde])
    return Table(f"{result.title}: effect sizes", header, rows, effect_caption(result, settings), legend=False)


def bayes_table(result: CellResult, settings: Settings) -> Table | None:
    """P(worse) / P(equivalent) / P(better) within the ROPE, per method and headline metric."""
    if result.baseline is None or not result.summary or not result.bayes.size:
        return None
    b = result.methods.index(result.baseline)
    columns = [*result.summary, len(result.metrics)]
    header = ["method", *(f"{result.metrics[k].label}" for k in result.summary), "Δm%"]
    rows = []
    for i, name in enumerate(result.methods):
        if i == b:
            continue
        cells = []
        for c in columns:
            worse, same, better = result.bayes[i, c]
            cells.append(Entry("n/a" if np.isnan(worse) else f"{worse:.2f} / {same:.2f} / {better:.2f}"))
        rows.append([Entry(name), *cells])
    return Table(
        f"{result.title}: P(worse / equivalent / better) than {result.baseline}",
        header,
        rows,
        bayes_caption(result, settings),
        legend=False,
    )


def cell_section(result: CellResult, settings: Settings) -> Section:
    section = Section(result.title)
    effects = effect_table(result, settings)
    if effects is not None:
        section.tables.append(effects)
    for group in GROUPS:
        columns = [k for k, d in enumerate(result.metrics) if d.group == group]
        if not columns:
            continue
        header = ["method", "seeds", *(f"{result.metrics[k].label} {result.metrics[k].arrow}" for k in columns)]
        rows = [
            [Entry(name), Entry(str(result.seeds[name])), *(_metric_entry(result, i, k, settings) for k in columns)]
            for i, name in enumerate(result.methods)
        ]
        caption = group_caption(result, settings, group)
        section.tables.append(Table(f"{result.title}: {GROUP_TITLES.get(group, group)}", header, rows, caption))
    if result.summary:
        rows = []
        for i, name in enumerate(result.methods):
            if np.isnan(result.delta_m[i]):
                delta = Entry("n/a")
            elif result.methods[i] == result.baseline:
                delta = Entry("0 (baseline)")
            else:
                delta = Entry(
                    f"{result.delta_m[i]:+.2f} [{result.delta_m_low[i]:+.2f}, {result.delta_m_high[i]:+.2f}]",
                    dagger=bool(result.delta_m_significant[i]),
                    tip=f"p = {result.delta_m_p[i]:.3g} (corrected)",
                )
            versus = [_reference_entry(result, i)] if result.reference else []
            rows.append(
                [Entry(name), Entry(str(result.seeds[name])), delta, *versus, Entry(f"{result.mean_rank[i]:.2f}")]
            )
        versus_header = [f"Δm% vs {result.reference} ↑"] if result.reference else []
        header = ["method", "seeds", f"Δm% vs {result.baseline or settings.baseline} ↑", *versus_header, "mean rank ↓"]
        section.tables.append(
            Table(f"{result.title}: MTL summary", header, rows, summary_caption(result, settings), legend=False)
        )
    bayes = bayes_table(result, settings)
    if bayes is not None:
        section.tables.append(bayes)
    section.lines = [f"Warning: {w}." for w in result.warnings] + [f"Note: {n}." for n in result.notes]
    section.problems = list(result.problems)
    return section


def _reference_entry(result: CellResult, i: int) -> Entry:
    if result.methods[i] == result.reference:
        return Entry("0 (reference)")
    if np.isnan(result.delta_ref[i]):
        return Entry("n/a")
    return Entry(f"{result.delta_ref[i]:+.2f} [{result.delta_ref_low[i]:+.2f}, {result.delta_ref_high[i]:+.2f}]")


def ranking_section(report: Report) -> Section:
    section = Section("Across cells")
    ranking = report.ranking
    settings = report.settings
    if isinstance(ranking, str):
        section.lines.append(f"No across-cell test: {ranking}.")
        return section
    order = np.argsort(ranking.mean_ranks, kind="stable")
    header = ["method", "mean rank ↓", "mean Δm% ↑", f"P(worse / ±{ranking.rope:g}% / better) vs {ranking.baseline}"]
    rows = []
    for i in order:
        worse, same, better = ranking.bayes[i] if ranking.bayes.size else (np.nan,) * 3
        bayes = "baseline" if ranking.methods[i] == ranking.baseline else f"{worse:.2f} / {same:.2f} / {better:.2f}"
        rows.append(
            [
                Entry(ranking.methods[i]),
                Entry(f"{ranking.mean_ranks[i]:.2f}"),
                Entry(_fmt_delta(ranking.delta_m[i])),
                Entry(bayes),
            ]
        )
    f = ranking.friedman
    k, n = len(ranking.methods), len(ranking.blocks)
    posthoc = (
        "pairwise Wilcoxon signed-rank tests with Holm correction"
        if ranking.posthoc == "wilcoxon"
        else f"Nemenyi's test (critical difference {ranking.cd:.2f} in mean rank)"
    )
    verdict = (
        f"Verdict: {ranking.posthoc_floor}."
        if ranking.posthoc_floor
        else f"Post-hoc: {posthoc}, alpha {settings.alpha:g}."
    )
    caption = (
        f"Across {n} cells, each an independent block ({', '.join(ranking.blocks)}); a method's score in a block is "
        f"the cell's Δm% against {settings.baseline} (0 for {settings.baseline} itself), its rank that score's rank "
        f"(1 = best). Friedman chi2({k - 1}) = {f.chi2:.2f}, p = {f.p_chi2:.3g}; Iman-Davenport F({k - 1}, "
        f"{(k - 1) * (n - 1)}) = {_fmt(f.iman_davenport)}, p = {f.p_iman_davenport:.3g} (with {n} blocks no "
        f"Friedman p can go below {ranking.friedman_floor:.3g}). {verdict} Bayesian signed-rank test over the cells "
        f"(Benavoli et al. 2017, prior 0.5 at 0): P(Δm% below -{ranking.rope:g}%, within ±{ranking.rope:g}%, above "
        f"+{ranking.rope:g}%). Mean ranks depend on the pool of methods."
    )
    section.tables.append(Table("Across cells: ranks by Δm%", header, rows, caption, False))
    if not ranking.posthoc_floor:
        matrix_rows = [
            [Entry(ranking.methods[i]), *(Entry("" if i == j else f"{ranking.p[i, j]:.3g}") for j in order)]
            for i in order
        ]
        label = "Holm-corrected Wilcoxon" if ranking.posthoc == "wilcoxon" else "Nemenyi"
        section.tables.append(
            Table(
                f"Post-hoc p-values ({label})",
                ["", *(ranking.methods[j] for j in order)],
                matrix_rows,
                f"{label} p-values between methods over the {n} cells; below {settings.alpha:g}: significantly "
                "different.",
                False,
            )
        )
        for group in ranking.groups:
            section.lines.append(
                f"Not significantly different ({label}): {', '.join(ranking.methods[i] for i in group)}."
            )
    else:
        section.lines.append(f"{ranking.posthoc_floor[0].upper()}{ranking.posthoc_floor[1:]}.")
    if ranking.excluded:
        section.lines.append(f"Left out of the ranking: {'; '.join(ranking.excluded)}.")
    return section


def _fmt(x: float) -> str:
    return "inf" if not np.isfinite(x) else f"{x:.2f}"


def _fmt_delta(x: float) -> str:
    return "n/a" if np.isnan(x) else f"{x:+.2f}"


def sections(report: Report) -> list[Section]:
    """Every cell, then the ranking across cells, then the cells that could not be analysed."""
    out = [cell_section(r, report.settings) for r in report.cells]
    out.append(ranking_section(report))
    if report.skipped:
        out.append(Section("Cells without a leaderboard", lines=[f"{line}." for line in report.skipped]))
    return out
