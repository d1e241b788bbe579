"""Leaderboard text formats: terminal, Markdown, LaTeX (booktabs) and CSV.

Marks: bold = not significantly worse than the best, underline = second-best mean, † =
significantly different from the baseline after correction. The terminal shows bold and
underline as ANSI styles on a colour terminal and as the suffixes ``*`` and ``²`` otherwise;
every table is followed by a legend that says which.
"""

from __future__ import annotations

import csv
import io
import math

from tabulate import tabulate

from mtlbench.stats.catalogue import DELTA_M
from mtlbench.stats.cells import CellResult
from mtlbench.stats.document import Entry, Report, Section, Table, header_line, sections
from mtlbench.stats.settings import Settings

FORMATS = ("terminal", "markdown", "latex", "csv", "html")
BOLD_MARK, SECOND_MARK, DAGGER = "*", "²", "†"
ANSI_BOLD, ANSI_UNDERLINE, ANSI_RESET = "\033[1m", "\033[4m", "\033[0m"


def legend(baseline: str, style: str) -> str:
    """What the marks mean, with bold and underline drawn the way ``style`` draws them."""
    bold, second = {
        "ansi": (f"{ANSI_BOLD}bold{ANSI_RESET}", f"{ANSI_UNDERLINE}underlined{ANSI_RESET}"),
        "markdown": ("**bold**", "<ins>underlined</ins>"),
        "plain": (f"{BOLD_MARK} (bold in the other formats)", f"{SECOND_MARK} (underlined in the other formats)"),
    }[style]
    return (
        f"{bold}: not significantly worse than the best; {second}: second-best mean; "
        f"{DAGGER}: significantly different from {baseline}."
    )


def _terminal_entry(entry: Entry, ansi: bool) -> str:
    text = entry.text
    if ansi:
        styles = (ANSI_BOLD if entry.bold else "") + (ANSI_UNDERLINE if entry.underline else "")
        text = f"{styles}{text}{ANSI_RESET}" if styles else text
    else:
        text += (BOLD_MARK if entry.bold else "") + (SECOND_MARK if entry.underline else "")
    return text + (DAGGER if entry.dagger else "")


def _markdown_entry(entry: Entry) -> str:
    text = entry.text.replace("|", "\\|")
    if entry.underline:
        text = f"<ins>{text}</ins>"
    if entry.bold:
        text = f"**{text}**"
    return text + (DAGGER if entry.dagger else "")


def _problems_text(section: Section) -> str:
    return "Incomplete grid:\n" + "\n".join(f"- {p}" for p in section.problems)


def render_terminal(report: Report, *, ansi: bool = False) -> str:
    parts = [header_line(report)]
    for section in sections(report):
        for table in section.tables:
            rows = [[_terminal_entry(e, ansi) for e in row] for row in table.rows]
            text = f"{table.title}\n\n{tabulate(rows, table.header, tablefmt='simple', disable_numparse=True)}"
            if table.legend:
                text += "\n" + legend(report.settings.baseline, "ansi" if ansi else "plain")
            parts.append(f"{text}\n{table.caption}")
        if section.lines or section.problems:
            extra = "\n".join(section.lines)
            if section.problems:
                extra = f"{extra}\n{_problems_text(section)}".strip()
            parts.append(extra if section.tables else f"{section.title}\n{extra}")
    return "\n\n".join(parts) + "\n"


def render_markdown(report: Report) -> str:
    parts = [f"# Leaderboard\n\n{header_line(report)}"]
    for section in sections(report):
        parts.append(f"## {section.title}")
        for table in section.tables:
            rows = [[_markdown_entry(e) for e in row] for row in table.rows]
            body = tabulate(rows, table.header, tablefmt="github", disable_numparse=True)
            marks = f"\n\n{legend(report.settings.baseline, 'markdown')}" if table.legend else ""
            parts.append(f"### {table.title}\n\n{body}\n\n{table.caption}{marks}")
        parts += section.lines
        if section.problems:
            parts.append(_problems_text(section))
    return "\n\n".join(parts) + "\n"


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "±": r"$\pm$",
    "†": r"$^\dagger$",
    "Δ": r"$\Delta$",
    "²": r"$^2$",
    "<": r"$<$",
    ">": r"$>$",
}


def latex_escape(text: str) -> str:
    """Plain text as LaTeX source (special characters escaped, symbols as math)."""
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex_entry(entry: Entry) -> str:
    text = latex_escape(entry.text)
    if entry.underline:
        text = rf"\underline{{{text}}}"
    if entry.bold:
        text = rf"\textbf{{{text}}}"
    return text + (r"$^\dagger$" if entry.dagger else "")


def _latex_table(table: Table, label: str) -> str:
    columns = "l" + "r" * (len(table.header) - 1)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(table.caption)}}}",  # captions name their cell and table
        rf"\label{{{label}}}",
        r"\resizebox{\linewidth}{!}{%",
        rf"\begin{{tabular}}{{{columns}}}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in table.header) + r" \\",
        r"\midrule",
        *(" & ".join(_latex_entry(e) for e in row) + r" \\" for row in table.rows),
        r"\bottomrule",
        r"\end{tabular}}",
        r"\end{table}",
    ]
    return "\n".join(lines)


def render_latex(report: Report) -> str:
    parts = [
        f"% {latex_escape(header_line(report))}",
        r"% needs \usepackage{booktabs} and \usepackage{graphicx} (for \resizebox)",
    ]
    number = 0
    for section in sections(report):
        for table in section.tables:
            number += 1
            parts.append(_latex_table(table, f"tab:mtlbench-{number}"))
        notes = section.lines + ([_problems_text(section)] if section.problems else [])
        parts += [f"% {latex_escape(line)}" for note in notes for line in note.splitlines()]
    return "\n\n".join(parts) + "\n"


CSV_COLUMNS = (
    "cell",
    "group",
    "method",
    "seeds",
    "metric",
    "direction",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "diff_vs_baseline",
    "diff_ci_low",
    "diff_ci_high",
    "p_raw",
    "p_corrected",
    "significant_vs_baseline",
    "not_worse_than_best",
    "second_best",
    "baseline",
    "test",
    "correction",
    "alpha",
    "diff_se",
    "df",
    "seed_share",
    "interval",
    "family_size",
    "mde",
    "power",
    "rope",
    "p_worse",
    "p_equivalent",
    "p_better",
)
"""Per comparison with the baseline: p_raw and p_corrected (re-check calibration on your own store),
the standard error, Welch-Satterthwaite df and seed share of the difference, the interval convention
and family size, the minimum detectable effect at ``power``, and the Bayesian probabilities of
being practically worse / equivalent / better within +-rope (raw units; Delta_m%: percent)."""


def _num(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):.6g}"


def _extra(r: CellResult, i: int, column: int, s: Settings, family: str) -> list[str]:
    """The CSV's newer columns for method i and column (K = Delta_m%); blank for the baseline."""
    if r.baseline is None or r.methods[i] == r.baseline or not r.diff_se.size:
        return [""] * 11
    size = r.families[family].size if family in r.families else ""
    worse, same, better = r.bayes[i, column]
    return [
        _num(r.diff_se[i, column]),
        _num(r.diff_df[i, column]),
        _num(r.seed_share[i, column]),
        r.interval,
        str(size),
        _num(r.mde[i, column]),
        f"{s.power:g}",
        _num(r.rope[column]),
        _num(worse),
        _num(same),
        _num(better),
    ]


def render_csv(report: Report) -> str:
    """One row per (cell, method, metric) in raw units (0-1; Δm in percent), plus Δm% and mean rank."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    s = report.settings
    common = [s.baseline, s.test, s.family_correction, f"{s.alpha:g}"]
    for r in report.cells:
        k_all = len(r.metrics)
        for i, name in enumerate(r.methods):
            for k, d in enumerate(r.metrics):
                writer.writerow(
                    [
                        r.title,
                        d.group,
                        name,
                        r.seeds[name],
                        d.key,
                        "higher" if d.higher_is_better else "lower",
                        _num(r.mean[i, k]),
                        _num(r.std[i, k]),
                        _num(r.ci_low[i, k]),
                        _num(r.ci_high[i, k]),
                        _num(r.diff[i, k]),
                        _num(r.diff_low[i, k]),
                        _num(r.diff_high[i, k]),
                        _num(r.p_raw[i, k]),
                        _num(r.p_baseline[i, k]),
                        bool(r.significant[i, k]),
                        bool(r.best_tied[i, k]),
                        bool(r.second[i, k]),
                        *common,
                        *_extra(r, i, k, s, d.group),
                    ]
                )
            dm_p = r.delta_m_p[i]
            dm_raw = r.delta_m_p_raw[i] if r.delta_m_p_raw.size else float("nan")
            writer.writerow(
                [r.title, "MTL", name, r.seeds[name], "delta_m_percent", "higher", _num(r.delta_m[i]), "",
                 "", "", _num(r.delta_m[i]), _num(r.delta_m_low[i]), _num(r.delta_m_high[i]), _num(dm_raw),
                 _num(dm_p), bool(r.delta_m_significant[i]), "", "", *common, *_extra(r, i, k_all, s, DELTA_M)]
            )  # fmt: skip
            if r.reference:  # Delta_m% against the second reference: an effect size with its interval, untested
                metric = f"delta_m_percent_vs_{r.reference}"
                ref = [_num(r.delta_ref[i]), _num(r.delta_ref_low[i]), _num(r.delta_ref_high[i])]
                writer.writerow(
                    [r.title, "MTL", name, r.seeds[name], metric, "higher", ref[0], "", "", "", *ref, "", "", "",
                     "", "", r.reference, *common[1:], *[""] * 11]
                )  # fmt: skip
            writer.writerow(
                [r.title, "MTL", name, r.seeds[name], "mean_rank", "lower", _num(r.mean_rank[i]), "", "", "", "", "",
                 "", "", "", "", "", "", *common, *[""] * 11]
            )  # fmt: skip
    return buffer.getvalue()


def render(report: Report, fmt: str, *, ansi: bool = False) -> str:
    """The whole report as text in ``fmt`` (HTML: see :mod:`mtlbench.stats.htmlpage`)."""
    if fmt == "terminal":
        return render_terminal(report, ansi=ansi)
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "latex":
        return render_latex(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "html":
        from mtlbench.stats.htmlpage import render_html

        return render_html(report)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
