"""The leaderboard as one self-contained HTML page: styles inline, the CD diagram embedded as PNG.

Each figure's intervals and p-values are written under it (and in its tooltip). With pictures,
each cell's figures follow its tables and every method name links to that method's page. Without
matplotlib (the optional extra 'plots') the page says so in one line where the diagram would be.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from html import escape

from mtlbench.stats.document import Entry, Report, Table, header_line, sections
from mtlbench.stats.htmlbits import RESPONSIVE_STYLE, VIEWPORT, picture_html, scrolling
from mtlbench.stats.pictures import ReportPictures
from mtlbench.stats.plots import PlotsUnavailable, cd_diagram_png
from mtlbench.stats.ranking import Ranking

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0 0.3em; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; }
figcaption { font-size: 0.85em; color: #444; max-width: 60em; }
th, td { padding: 0.25em 0.7em; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead tr { border-top: 2px solid #222; border-bottom: 1px solid #222; }
tbody tr:last-child { border-bottom: 2px solid #222; }
.legend, .note { font-size: 0.85em; color: #444; }
.problems { color: #a40000; }
"""


def _entry(entry: Entry) -> str:
    text = escape(entry.text)
    if entry.underline:
        text = f"<u>{text}</u>"
    if entry.bold:
        text = f"<strong>{text}</strong>"
    if entry.dagger:
        text += "<sup>&dagger;</sup>"
    title = f' title="{escape(entry.tip)}"' if entry.tip else ""
    shown = "".join(f'<span class="ci">{escape(part)}</span>' for part in entry.tip.split("; ") if part)
    return f"<td{title}>{text}{shown}</td>"


def _first(entry: Entry, links: Mapping[str, str]) -> str:
    """The row's first cell, linked to its method's page where there is one."""
    cell = _entry(entry)
    href = links.get(entry.text)
    if href is None:
        return cell
    name = escape(entry.text)
    return cell.replace(f">{name}", f'><a href="{escape(href)}">{name}</a>', 1)


def _table(table: Table, baseline: str, links: Mapping[str, str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    links = links or {}
    body = "\n".join(
        "<tr>" + "".join(_first(e, links) if i == 0 else _entry(e) for i, e in enumerate(row)) + "</tr>"
        for row in table.rows
    )
    legend = (
        '<p class="legend"><strong>bold</strong>: not significantly worse than the best; <u>underlined</u>: '
        f"second-best mean; &dagger;: significantly different from {escape(baseline)}.</p>"
        if table.legend
        else ""
    )
    return (
        f"<h3>{escape(table.title)}</h3>\n<figure>\n"
        + scrolling(f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>")
        + f"\n<figcaption>{escape(table.caption)}</figcaption>\n</figure>\n{legend}"
    )


def cd_png(ranking: Ranking) -> bytes:
    """The critical-difference diagram of ``ranking`` (raises PlotsUnavailable without matplotlib)."""
    test = "Holm-corrected Wilcoxon" if ranking.posthoc == "wilcoxon" else "Nemenyi"
    title = f"Mean ranks over {len(ranking.blocks)} cells; bars join methods {test} does not tell apart"
    return cd_diagram_png(ranking.methods, ranking.mean_ranks, ranking.groups, cd=ranking.cd, title=title)


def _figure(report: Report) -> str:
    if isinstance(report.ranking, str) or not report.ranking.diagram:
        return ""  # the section's lines say why there is no diagram
    try:
        png = cd_png(report.ranking)
    except PlotsUnavailable as err:
        return f'<p class="note">No critical-difference diagram: {escape(str(err))}.</p>'
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="critical-difference diagram" src="data:image/png;base64,{data}">'
        "<figcaption class='note'>Critical-difference diagram (Demsar 2006).</figcaption></figure>"
    )


def _pictures(pictures: ReportPictures, section: str) -> list[str]:
    if section not in pictures.curves:
        return []
    if pictures.missing:
        return [f'<p class="note">No figures: {escape(pictures.missing)}.</p>']
    return [picture_html(p) for p in pictures.by_cell.get(section, [])]


def render_html(
    report: Report,
    title: str = "mtlbench leaderboard",
    *,
    pictures: ReportPictures | None = None,
    links: Mapping[str, str] | None = None,
) -> str:
    """The page; ``pictures`` go after each cell's tables, ``links`` map method names to their pages."""
    parts = [
        "<!doctype html>",
        f'<html lang="en"><head><meta charset="utf-8">{VIEWPORT}',
        f"<title>{escape(title)}</title><style>{STYLE}{RESPONSIVE_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="note">{escape(header_line(report))}</p>',
    ]
    if report.empty:
        parts.append(f"<p>No finished runs in {escape(report.results)} yet: nothing to rank.</p>")
    for section in sections(report) if not report.empty else []:
        parts.append(f"<h2>{escape(section.title)}</h2>")
        parts += [_table(t, report.settings.baseline, links) for t in section.tables]
        if pictures is not None:
            parts += _pictures(pictures, section.title)
        if section.title == "Across cells":
            parts.append(_figure(report))
        parts += [f'<p class="note">{escape(line)}</p>' for line in section.lines]
        if section.problems:
            items = "".join(f"<li>{escape(p)}</li>" for p in section.problems)
            parts.append(f'<div class="problems"><p>Incomplete grid:</p><ul>{items}</ul></div>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
