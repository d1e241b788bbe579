"""One HTML page per method: its runs in every cell (state, epochs, test figures) and their curves.

The leaderboard's rows link here, so a reader who doubts a mean can see the seeds behind it and
find the run to open with ``mtlbench show RUN_ID``.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from mtlbench.results import METRICS, read_json
from mtlbench.stats.catalogue import METRICS as METRIC_DEFS
from mtlbench.stats.curves import Band, RunCurves, names
from mtlbench.stats.document import Report
from mtlbench.stats.figures import Panel, small_multiples_png
from mtlbench.stats.htmlbits import RESPONSIVE_STYLE, VIEWPORT, picture_html, scrolling
from mtlbench.stats.pictures import Picture, ReportPictures, slug
from mtlbench.stats.store import Cell, RunRef, part_of

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0 0.3em; font-variant-numeric: tabular-nums; }
th, td { padding: 0.25em 0.7em; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, td.text { text-align: left; }
thead tr { border-top: 2px solid #222; border-bottom: 1px solid #222; }
tbody tr:last-child { border-bottom: 2px solid #222; }
td.text { white-space: normal; }
code { font-size: 0.9em; }
.note { font-size: 0.85em; color: #444; }
"""


def method_page_names(methods: Sequence[str], folder: str) -> dict[str, str]:
    """Method -> its page's path relative to the leaderboard page (``folder/<slug>.html``)."""
    taken: dict[str, str] = {}
    out = {}
    for method in methods:
        name = slug(method)
        while name in taken and taken[name] != method:  # two labels that slug alike
            name += "_"
        taken[name] = method
        out[method] = f"{folder}/{name}.html"
    return out


def _figure_value(metrics: dict[str, Any], key: str) -> str:
    value = (metrics.get("test") or {}).get(key)
    return f"{100 * value:.2f}" if isinstance(value, int | float) else ""


def _runs_table(runs: Sequence[RunRef], headline: Sequence[str]) -> str:
    header = ["seed", "run", "state", "epochs", "best epoch", *(METRIC_DEFS[k].label for k in headline), "train s"]
    rows = []
    for run in sorted(runs, key=lambda r: (r.seed, r.run_id)):
        metrics: dict[str, Any] = {}
        if (run.path / METRICS).is_file():
            try:
                metrics = read_json(run.path / METRICS)
            except (OSError, ValueError):
                metrics = {}
        best = metrics.get("best_epoch")
        cells = [
            str(run.seed),
            f"<code>{escape(run.run_id)}</code>",
            escape(run.state) + (f": {escape(run.reason)}" if run.reason else ""),
            escape(str(metrics.get("epochs", ""))),
            "" if best is None else str(int(best) + 1),
            *(_figure_value(metrics, k) for k in headline),
            f"{(metrics.get('timing') or {}).get('train_s', 0):.0f}" if metrics.get("timing") else "",
        ]
        rows.append(
            "<tr>" + "".join(f'<td class="text">{c}</td>' if i == 2 else f"<td>{c}</td>" for i, c in enumerate(cells))
        )
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    return scrolling(
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(r + '</tr>' for r in rows)}</tbody></table>"
    )


def _single(series_x: Any, series_y: Any) -> Band:
    return Band(series_x, series_y, series_y, series_y, 1)


def seed_picture(method: str, runs: Sequence[RunCurves], monitor: str, key: str, title: str) -> Picture | None:
    """One panel per quantity (validation figures, gradient cosines, task weights), one line per seed."""
    panels: list[Panel] = []
    quantities: list[tuple[str, str, str]] = [("val", f, f"validation {f}") for f in dict.fromkeys((monitor, "loss"))]
    quantities += [("cosines", p, "cos(" + ", ".join(p.split("|")) + ")") for p in names(runs, "cosines")]
    quantities += [("weights", t, f"weight of {t}") for t in names(runs, "weights")]
    for kind, name, label in quantities:
        curves = {}
        for run in runs:
            source = run.val if kind == "val" else run.step.get(kind, {})
            if name in source:
                curves[f"seed {run.seed}"] = _single(source[name].x, source[name].y)
        if curves:
            panels.append(Panel(label, curves))
    if not panels:
        return None
    png = small_multiples_png(panels, title=f"{method}: each seed", ylabel="", sharey=False)
    caption = (
        f"{title}: {method}, one line per seed: validation figures after each epoch, and the task-gradient cosines "
        "and task weights over training (means over the logged steps of each bin)."
    )
    return Picture(key, f"{method}: curves of each seed", caption, png)


def method_page(
    method: str,
    report: Report,
    cells: dict[str, Cell],
    pictures: ReportPictures,
    *,
    back: str,
    draw: bool,
) -> str:
    """The page of ``method``: per cell, its runs and (with ``draw``) its per-seed curves."""
    parts = [
        "<!doctype html>",
        f'<html lang="en"><head><meta charset="utf-8">{VIEWPORT}',
        f"<title>{escape(method)}: runs</title><style>{STYLE}{RESPONSIVE_STYLE}</style></head><body>",
        f'<p><a href="{escape(back)}">&larr; leaderboard</a></p>',
        f"<h1>{escape(method)}</h1>",
        f'<p class="note">Every run of {escape(method)} in {escape(report.results)}. Open one with '
        "<code>mtlbench show RUN_ID</code> (a unique prefix of the id is enough): its configuration, "
        "environment, curves, diagnostics and best and worst test examples.</p>",
    ]
    for index, result in enumerate(report.cells):
        cell = cells.get(result.title)
        runs = [r for r in cell.runs if r.method == method or part_of(r.method, method)] if cell is not None else []
        if not runs:
            continue
        headline = [k for k in report.settings.summary_metrics if k in {d.key for d in result.metrics}]
        parts.append(f"<h2>{escape(result.title)}</h2>")
        parts.append(_runs_table(runs, headline))
        parts.append(
            '<p class="note">Test figures x100 of each finished run (the leaderboard recomputes them from the '
            "per-example statistics); best epoch: the one chosen on validation.</p>"
        )
        curves = pictures.curves.get(result.title)
        if draw and curves is not None and curves.of(method):
            picture = seed_picture(method, curves.of(method), curves.monitor, f"cell{index + 1}-seeds", result.title)
            if picture is not None:
                parts.append(picture_html(picture))
        elif pictures.missing:
            parts.append(f'<p class="note">No figures: {escape(pictures.missing)}.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_method_pages(report: Report, pictures: ReportPictures, out: Path) -> tuple[dict[str, str], list[Path]]:
    """Write one page per method into the folder ``out``-methods; returns (links from the
    leaderboard page, paths written)."""
    out = Path(out)
    folder = f"{out.name}-methods"
    methods = list(dict.fromkeys(m for r in report.cells for m in r.methods))
    links = method_page_names(methods, folder)
    cells = pictures.cells
    target = out.with_name(folder)
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.glob("*.html"):  # pages of methods no longer in the store
        stale.unlink()
    written = []
    draw = not pictures.missing
    for method, href in links.items():
        page = method_page(method, report, cells, pictures, back=f"../{out.name}.html", draw=draw)
        path = out.parent / href
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return links, written
