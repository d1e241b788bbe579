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
from mtlbench.stats.catalogue import GROUPS
from mtlbench.stats.cells import CellResult, analyse
from mtlbench.stats.ranking import Ranking, rank_across
from mtlbench.stats.settings import Settings
from mtlbench.stats.store import scan

GROUP_TITLES = {
    "NLG": "NLG metrics",
    "CE": "clinical efficacy (CE) metrics",
    "MODEL": "model-based metrics (BERTScore, SembScore, RadGraph F1, RadCliQ-v1)",
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
    if settings.test == "bootstrap":
        return (
            f"two-level paired bootstrap, {settings.resamples} resamples (each method's seeds resampled, the seed "
            "level rescaled by sqrt(S/(S-1)) against the small-sample bias; "
            f"the {result.n_examples} test examples resampled with the same indices for every method; "
            "corpus metrics recomputed from per-example statistics on every resample)"
        )
    if settings.test == "randomization":
        return (
            f"paired approximate randomization, {settings.resamples} rounds (outputs swapped per test example "
            "with probability 1/2, runs paired by seed, corpus metrics recomputed)"
        )
    return settings.test_name


def _context(result: CellResult, settings: Settings) -> str:
    return (
        f"CE labeler: {result.labeler}; uncertain findings counted as {result.uncertain}. "
        f"Tuning budget: {result.tuning}."
    )


def group_caption(result: CellResult, settings: Settings, group: str, family: int) -> str:
    baseline = result.baseline or settings.baseline
    text = (
        f"{result.title}, {GROUP_TITLES.get(group, group)}: mean ± std over {_seed_text(result)} of each run's "
        f"corpus figure on {result.n_examples} test examples, x100; arrows give each metric's direction. "
        f"Test: {test_description(result, settings)}, two-sided, against {baseline}, alpha {settings.alpha:g}, "
        f"{settings.correction_name} correction over the {family} comparisons of this table. "
        f"† significantly different from {baseline}; bold: not significantly worse than the best "
        f"(same test and correction); underline: second-best mean. {_context(result, settings)}"
    )
    return text


def summary_caption(result: CellResult, settings: Settings) -> str:
    labels = [result.metrics[i].label for i in result.summary]
    tasks = list(dict.fromkeys(result.metrics[i].group for i in result.summary))
    baseline = result.baseline or settings.baseline
    return (
        f"{result.title}, MTL summary. Δm% = 100 x mean over the tasks ({', '.join(tasks)}) of the mean over "
        f"each task's metrics ({', '.join(labels)}) of s (M - B) / |B|, s = +1 for ↑ metrics and -1 for ↓ ones: "
        f"positive = better than {baseline} (LibMTL's sign; Nash-MTL and FAMO print the negative). "
        f"{round(100 * settings.level)}% CI from the two-level bootstrap. † Δm% differs from 0 by the "
        f"{settings.test_name}, {settings.correction_name} over the {max(len(result.methods) - 1, 0)} methods. "
        "Mean rank over the same metrics (1 = best); it depends on which methods are in the pool, so read it "
        f"beside Δm%. {_context(result, settings)}"
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


def cell_section(result: CellResult, settings: Settings) -> Section:
    section = Section(result.title)
    others = max(len(result.methods) - 1, 0) if result.baseline else 0
    for group in GROUPS:
        columns = [k for k, d in enumerate(result.metrics) if d.group == group]
        if not columns:
            continue
        header = ["method", "seeds", *(f"{result.metrics[k].label} {result.metrics[k].arrow}" for k in columns)]
        rows = [
            [Entry(name), Entry(str(result.seeds[name])), *(_metric_entry(result, i, k, settings) for k in columns)]
            for i, name in enumerate(result.methods)
        ]
        caption = group_caption(result, settings, group, others * len(columns))
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
            rows.append([Entry(name), Entry(str(result.seeds[name])), delta, Entry(f"{result.mean_rank[i]:.2f}")])
        header = ["method", "seeds", "Δm% ↑", "mean rank ↓"]
        section.tables.append(
            Table(f"{result.title}: MTL summary", header, rows, summary_caption(result, settings), legend=False)
        )
    section.lines = [f"Warning: {w}." for w in result.warnings] + [f"Note: {n}." for n in result.notes]
    section.problems = list(result.problems)
    return section


def ranking_section(report: Report) -> Section:
    section = Section("Across cells")
    ranking = report.ranking
    settings = report.settings
    if isinstance(ranking, str):
        section.lines.append(f"No across-cell ranking: {ranking}.")
        return section
    order = np.argsort(ranking.mean_ranks, kind="stable")
    rows = [
        [Entry(ranking.methods[i]), Entry(f"{ranking.mean_ranks[i]:.2f}"), Entry(_fmt_delta(ranking.delta_m[i]))]
        for i in order
    ]
    f = ranking.friedman
    k, n = len(ranking.methods), len(ranking.blocks)
    posthoc = (
        "pairwise Wilcoxon signed-rank tests with Holm correction"
        if ranking.posthoc == "wilcoxon"
        else f"Nemenyi's test (critical difference {ranking.cd:.2f} in mean rank)"
    )
    caption = (
        f"Mean rank of each method over {n} blocks ({ranking.n_cells} cell{'s' if ranking.n_cells > 1 else ''} x "
        f"metrics {', '.join(ranking.metrics)}; "
        f"1 = best) and mean Δm% over cells against {settings.baseline}. Friedman chi2({k - 1}) = {f.chi2:.2f}, "
        f"p = {f.p_chi2:.3g}; Iman-Davenport F({k - 1}, {(k - 1) * (n - 1)}) = {_fmt(f.iman_davenport)}, "
        f"p = {f.p_iman_davenport:.3g}. Post-hoc: {posthoc}, alpha {settings.alpha:g}. The metrics of one cell "
        "are correlated, so these p-values are optimistic; mean ranks depend on the pool of methods."
    )
    section.tables.append(
        Table("Mean ranks across cells", ["method", "mean rank ↓", "mean Δm% ↑"], rows, caption, False)
    )
    matrix_rows = [
        [Entry(ranking.methods[i]), *(Entry("" if i == j else f"{ranking.p[i, j]:.3g}") for j in order)] for i in order
    ]
    label = "Holm-corrected Wilcoxon" if ranking.posthoc == "wilcoxon" else "Nemenyi"
    section.tables.append(
        Table(
            f"Post-hoc p-values ({label})",
            ["", *(ranking.methods[j] for j in order)],
            matrix_rows,
            f"{label} p-values between methods over the {n} blocks; below {settings.alpha:g}: significantly different.",
            False,
        )
    )
    for group in ranking.groups:
        section.lines.append(f"Not significantly different ({label}): {', '.join(ranking.methods[i] for i in group)}.")
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
