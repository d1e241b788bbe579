"""Leaderboard tables in every format: terminal, Markdown, LaTeX (booktabs), CSV and HTML.

Conventions of every format: one row per method, per metric an arrow for its direction and
mean ± std over seeds (in points, x100); bold for every method not significantly worse than
the best, underline for the second best, a dagger for a significant difference to the
baseline after correction; a caption naming the test, alpha, correction, seeds, CE labeler
and uncertain policy, and the tuning budget; problems of the grid listed under the table.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence

from tabulate import tabulate

from mtlbench.stats.catalogue import CE, NLG
from mtlbench.stats.cells import CellResult, Settings

FORMATS = ("terminal", "markdown", "latex", "csv", "html")
DAGGER = {"terminal": "†", "markdown": "†", "latex": r"$^\dagger$", "html": "&dagger;"}


def caption(result: CellResult, settings: Settings) -> str:
    seeds = sorted(set(result.seeds.values()))
    seed_text = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    test = (
        f"two-level paired bootstrap ({settings.resamples} resamples of seeds and of the "
        f"{result.n_examples} test examples)"
        if settings.test == "bootstrap"
        else "Welch t-test on per-seed values"
    )
    correction = "Holm" if settings.correction == "holm" else "Benjamini-Hochberg"
    text = (
        f"{result.title}. Mean ± std over {seed_text} seeds, x100. Test: {test} against "
        f"{settings.baseline!r}, alpha {settings.alpha}, {correction} correction across the comparisons of each table; "
        f"† significant difference to {settings.baseline}; bold: not significantly worse than the best; "
        f"underline: second best. CE labeler: {result.labeler}, uncertain counted as {result.uncertain}. "
        f"Tuning budget: {result.tuning}."
    )
    if settings.test == "seeds" and min(result.seeds.values()) < 6:
        text += " Warning: with fewer than 6 seeds per-seed tests have little power."
    for note in dict.fromkeys(result.notes):
        text += f" Note: {note}."
    return text


def _cell_text(result: CellResult, i: int, k: int, fmt: str) -> str:
    mean, std = 100 * result.mean[i, k], 100 * result.std[i, k]
    text = f"{mean:.2f}" if std != std else f"{mean:.2f} ± {std:.2f}"
    if fmt == "latex":
        text = text.replace("±", r"$\pm$")
    if result.best_tied[i, k]:
        text = {"markdown": f"**{text}**", "latex": rf"\textbf{{{text}}}", "html": f"<b>{text}</b>"}.get(
            fmt, f"{text} *"
        )
    elif result.second[i, k]:
        text = {"markdown": f"<u>{text}</u>", "latex": rf"\underline{{{text}}}", "html": f"<u>{text}</u>"}.get(
            fmt, f"{text} _"
        )
    if result.significant[i, k]:
        text += DAGGER.get(fmt, "†")
    return text


def _rows(result: CellResult, group: str, fmt: str) -> tuple[list[str], list[list[str]]]:
    columns = [k for k, d in enumerate(result.metrics) if d.group == group]
    header = ["method", "seeds", *(f"{result.metrics[k].label} {result.metrics[k].arrow}" for k in columns)]
    rows = [
        [name, str(result.seeds[name]), *(_cell_text(result, i, k, fmt) for k in columns)]
        for i, name in enumerate(result.methods)
    ]
    return header, rows


def render(results: Sequence[CellResult], settings: Settings, fmt: str) -> str:
    """All cells of a store as one document in ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return _csv(results)
    parts = []
    for result in results:
        for group in (NLG, CE):
            header, rows = _rows(result, group, fmt)
            if len(header) == 2:
                continue
            title = f"{group} metrics"
            if fmt == "latex":
                parts.append(_latex(header, rows, caption(result, settings), title))
            elif fmt == "html":
                body = tabulate(rows, header, tablefmt="unsafehtml")
                parts.append(f"<h3>{html.escape(title)}</h3>\n{body}\n<p>{html.escape(caption(result, settings))}</p>")
            else:
                table = tabulate(rows, header, tablefmt="github" if fmt == "markdown" else "simple")
                parts.append(f"{title}: {result.title}\n\n{table}\n\n{caption(result, settings)}")
        if result.problems:
            lines = "\n".join(f"- {p}" for p in result.problems)
            parts.append(f"Incomplete grid ({result.title}):\n{lines}")
    return "\n\n".join(parts) + "\n"


def _latex(header: list[str], rows: list[list[str]], text: str, title: str) -> str:
    def esc(s: str) -> str:
        return s.replace("_", r"\_").replace("%", r"\%").replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$")

    columns = "l" + "r" * (len(header) - 1)
    body = " \\\\\n".join(" & ".join(esc(c) if "$" not in c and "\\" not in c else c for c in r) for r in rows)
    return (
        "\\begin{table}[t]\n\\centering\n"
        f"\\caption{{{esc(title)}. {esc(text)}}}\n"
        f"\\begin{{tabular}}{{{columns}}}\n\\toprule\n"
        + " & ".join(esc(h) for h in header)
        + " \\\\\n\\midrule\n"
        + body
        + " \\\\\n\\bottomrule\n\\end{tabular}\n\\end{table}"
    )


def _csv(results: Sequence[CellResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["cell", "method", "seeds", "metric", "mean", "std", "ci_low", "ci_high", "p_vs_baseline", "significant"]
    )
    for result in results:
        for i, name in enumerate(result.methods):
            for k, definition in enumerate(result.metrics):
                writer.writerow(
                    [
                        result.title,
                        name,
                        result.seeds[name],
                        definition.key,
                        f"{result.mean[i, k]:.6f}",
                        f"{result.std[i, k]:.6f}",
                        f"{result.ci_low[i, k]:.6f}",
                        f"{result.ci_high[i, k]:.6f}",
                        "" if result.p_baseline[i, k] != result.p_baseline[i, k] else f"{result.p_baseline[i, k]:.6g}",
                        bool(result.significant[i, k]),
                    ]
                )
    return buffer.getvalue()
