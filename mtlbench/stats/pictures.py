"""The pictures of each leaderboard cell, drawn from the store: curves from the training logs,
the forest plot from the cell's statistics.

Per cell: validation curves (the model-selection figure and the validation loss), the cosine
of the task gradients over training, the task weights each method chose, and a forest plot of
the differences to the baseline on the headline (summary) metrics.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mtlbench.results import CONFIG, read_json
from mtlbench.stats.cells import CellResult, interval_phrase
from mtlbench.stats.curves import RunCurves, method_bands, names, run_curves
from mtlbench.stats.document import Report
from mtlbench.stats.figures import ForestRow, Panel, forest_png, small_multiples_png
from mtlbench.stats.plots import PlotsUnavailable
from mtlbench.stats.store import Cell, scan


@dataclass(frozen=True)
class Picture:
    """One embedded figure: PNG bytes, a short alternative text and the caption that says what it shows."""

    key: str
    alt: str
    caption: str
    png: bytes


@dataclass
class CellCurves:
    """The training curves of a cell's finished runs, by method (seed order)."""

    runs: dict[str, list[RunCurves]] = field(default_factory=dict)
    monitor: str = "loss"

    def of(self, method: str) -> list[RunCurves]:
        return self.runs.get(method, [])


def store_cells(results: Path) -> dict[str, Cell]:
    """The store's cells by title (the key the leaderboard's sections use)."""
    return {cell.key.title: cell for cell in scan(Path(results))}


def cell_curves(cell: Cell) -> CellCurves:
    """Curves of every finished run of ``cell`` (the runs the leaderboard counts)."""
    out = CellCurves()
    for method in cell.methods:
        for ref in cell.done(method):
            spec = read_json(ref.path / CONFIG).get("spec", {})
            train = spec.get("train") or {}
            out.monitor = str(train.get("monitor", out.monitor))
            curves = run_curves(
                ref.path, run_id=ref.run_id, method=method, seed=ref.seed, epochs=int(train.get("epochs", 1))
            )
            if not curves.empty:
                out.runs.setdefault(method, []).append(curves)
    return out


def slug(text: str) -> str:
    """A file- and anchor-safe name: letters, digits, '-', '_', '.'; anything else becomes '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def _pair_label(pair: str) -> str:
    return "cos(" + ", ".join(pair.split("|")) + ")"


def _seeds_text(curves: CellCurves, methods: Sequence[str]) -> str:
    counts = sorted({len(curves.of(m)) for m in methods if curves.of(m)})
    if not counts:
        return "no seeds"
    return f"{counts[0]} seeds" if len(counts) == 1 else f"{counts[0]}-{counts[-1]} seeds"


def validation_pictures(result: CellResult, curves: CellCurves, key: str) -> list[Picture]:
    """The model-selection figure and the validation loss, one panel per method, against the baseline."""
    methods = [m for m in result.methods if curves.of(m)]
    available = {n for m in methods for n in names(curves.of(m), "val")}
    figures = [f for f in dict.fromkeys((curves.monitor, "loss")) if f in available]
    baseline = result.baseline
    out = []
    for figure in figures:
        panels = []
        for method in methods:
            curve = method_bands(curves.of(method), "val", figure)
            reference = method_bands(curves.of(baseline), "val", figure) if baseline and method != baseline else None
            panels.append(Panel(method, {f"validation {figure}": curve} if curve else {}, reference, "no curve"))
        what = "model-selection criterion" if figure == curves.monitor and figure != "loss" else "sum of task losses"
        out.append(
            Picture(
                f"{key}-val-{slug(figure)}",
                f"validation {figure} per epoch, one panel per method",
                f"{result.title}: validation {figure} ({what}) after each epoch; line: mean over "
                f"{_seeds_text(curves, methods)}, band: lowest to highest seed"
                + (f"; grey dashed: {baseline}." if baseline else "."),
                small_multiples_png(
                    panels, title=f"validation {figure}", ylabel=figure, legend=bool(baseline) and len(panels) > 1
                ),
            )
        )
    return out


def cosine_picture(result: CellResult, curves: CellCurves, key: str) -> list[Picture]:
    """cos(g_i, g_j) of the task gradients on the shared parameters over training, per method."""
    methods = [m for m in result.methods if curves.of(m)]
    pairs = [p for p in dict.fromkeys(n for m in methods for n in names(curves.of(m), "cosines"))]
    if not pairs:
        return []
    one_pair = len(pairs) == 1
    baseline = result.baseline
    panels = []
    for method in methods:
        bands = {_pair_label(p): method_bands(curves.of(method), "cosines", p) for p in pairs}
        reference = None
        if one_pair and baseline and method != baseline:
            reference = method_bands(curves.of(baseline), "cosines", pairs[0])
        panels.append(Panel(method, {k: v for k, v in bands.items() if v is not None}, reference, "not measured"))
    caption = (
        f"{result.title}: cosine between the task gradients on the shared parameters over training (below 0: the "
        f"tasks conflict); mean over the logged steps of each bin, then over {_seeds_text(curves, methods)}, band: "
        "lowest to highest seed. Gradient methods measure it every step, loss-weighting methods every "
        "train.probe_every steps" + (f"; grey dashed: {baseline}." if one_pair and baseline else ".")
    )
    png = small_multiples_png(panels, title="task-gradient cosine", ylabel="cosine", hline=0.0)
    return [Picture(f"{key}-cosine", "task-gradient cosine over training, one panel per method", caption, png)]


def weights_picture(result: CellResult, curves: CellCurves, key: str) -> list[Picture]:
    """The weight each method gave each task's gradient in the shared update, over training."""
    methods = [m for m in result.methods if curves.of(m)]
    tasks = [t for t in dict.fromkeys(n for m in methods for n in names(curves.of(m), "weights"))]
    if not tasks:
        return []
    panels = []
    without = []
    for method in methods:
        bands = {t: method_bands(curves.of(method), "weights", t) for t in tasks}
        present = {k: v for k, v in bands.items() if v is not None}
        if not present:
            without.append(method)
        panels.append(Panel(method, present, None, "no task weights logged"))
    caption = (
        f"{result.title}: effective weight of each task's gradient in the shared update over training (methods "
        f"that project or rescale gradients report the weights their update amounts to), mean over "
        f"{_seeds_text(curves, methods)}, band: lowest to highest seed."
    )
    if without:
        caption += f" No task weights logged by: {', '.join(without)}."
    png = small_multiples_png(panels, title="task weights", ylabel="weight")
    return [Picture(f"{key}-weights", "task weights over training, one panel per method", caption, png)]


def forest_rows(result: CellResult, summary_metrics: Sequence[str]) -> dict[str, list[ForestRow]]:
    """Per headline metric present in the cell ("label arrow"), each non-baseline method's difference
    to the baseline and its interval, x100; empty without a baseline."""
    if result.baseline is None:
        return {}
    rows: dict[str, list[ForestRow]] = {}
    for metric_key in [k for k in summary_metrics if k in {d.key for d in result.metrics}]:
        k = result.index(metric_key)
        definition = result.metrics[k]
        rows[f"{definition.label} {definition.arrow}"] = [
            ForestRow(
                method,
                100 * float(result.diff[i, k]),
                100 * float(result.diff_low[i, k]),
                100 * float(result.diff_high[i, k]),
                bool(result.significant[i, k]),
            )
            for i, method in enumerate(result.methods)
            if method != result.baseline
        ]
    return {name: r for name, r in rows.items() if r}


def forest_picture(result: CellResult, summary_metrics: Sequence[str], intervals: str, key: str) -> list[Picture]:
    """Differences to the baseline on the headline metrics, with their intervals (``intervals``: what they are)."""
    rows = forest_rows(result, summary_metrics)
    if not rows or result.baseline is None:
        return []
    caption = (
        f"{result.title}: each method's mean over seeds minus {result.baseline}'s (x100) on the headline metrics, "
        f"with the interval of that difference ({intervals}). Filled red: significantly different from the "
        "baseline by the table's test after its correction (the † of the tables); hollow blue: not significant."
    )
    png = forest_png(rows, title=f"difference to {result.baseline}", baseline=result.baseline)
    return [Picture(f"{key}-forest", f"forest plot of the differences to {result.baseline}", caption, png)]


def cell_pictures(result: CellResult, curves: CellCurves, report: Report, key: str) -> list[Picture]:
    settings = report.settings
    return [
        *validation_pictures(result, curves, key),
        *cosine_picture(result, curves, key),
        *weights_picture(result, curves, key),
        *forest_picture(result, settings.summary_metrics, interval_phrase(settings), key),
    ]


@dataclass
class ReportPictures:
    """Pictures by cell title; ``missing`` says once why there are none (no matplotlib)."""

    by_cell: dict[str, list[Picture]] = field(default_factory=dict)
    curves: dict[str, CellCurves] = field(default_factory=dict)
    cells: dict[str, Cell] = field(default_factory=dict)
    """The store's cells by title (their runs, for the method pages)."""
    missing: str = ""


def report_pictures(report: Report) -> ReportPictures:
    """Every cell's pictures (an empty result with ``missing`` set when matplotlib is absent)."""
    out = ReportPictures(cells=store_cells(Path(report.results)))
    for result in report.cells:
        cell = out.cells.get(result.title)
        out.curves[result.title] = cell_curves(cell) if cell is not None else CellCurves()
    try:
        for index, result in enumerate(report.cells):
            key = f"cell{index + 1}"
            out.by_cell[result.title] = cell_pictures(result, out.curves[result.title], report, key)
    except PlotsUnavailable as err:
        out.by_cell.clear()
        out.missing = str(err)
    return out
