"""The report's pictures as PNG bytes; matplotlib is the optional extra 'plots'.

Every per-method figure is a grid of small panels, one per method, with the same axes: with the
18 methods of a full grid, one panel each stays readable where 18 overlaid curves would not.
A method's curve is its mean over seeds with a shaded band from the lowest to the highest seed;
the baseline's mean is repeated as a grey dashed line in every panel, so each method is read
against it. The forest plot shows each method's difference to the baseline with its interval.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mtlbench.stats.curves import Band
from mtlbench.stats.plots import PlotsUnavailable

FIGURES_HINT = 'the report\'s figures need matplotlib: pip install "mtlbench[plots]"'
COLUMNS = 4
"""Panels per row of a small-multiples figure."""
BASELINE_STYLE = {"color": "#777777", "lw": 1.0, "ls": "--"}


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, or PlotsUnavailable saying what to install."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise PlotsUnavailable(FIGURES_HINT) from err
    return plt


def png(fig: Any) -> bytes:
    """The figure as PNG bytes (and closed: a report draws many)."""
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


@dataclass(frozen=True)
class Panel:
    """One small panel: a title and named curves (a label per line; colours follow the order)."""

    title: str
    curves: Mapping[str, Band]
    reference: Band | None = None
    """The baseline's curve, drawn grey and dashed under the others."""
    note: str = ""
    """Said in the panel instead of curves when it has none."""


def small_multiples_png(
    panels: Sequence[Panel],
    *,
    title: str,
    ylabel: str,
    xlabel: str = "epoch",
    hline: float | None = None,
    legend: bool = True,
    sharey: bool = True,
) -> bytes:
    """A grid of panels sharing their axes: one per method (or per run)."""
    plt = pyplot()
    n = max(len(panels), 1)
    columns = min(COLUMNS, n)
    rows = math.ceil(n / columns)
    with_legend = legend and any(p.curves or p.reference for p in panels)
    top, bottom, left = 0.62, 0.45 + (0.3 if with_legend else 0.0), 0.65 if sharey else 0.45
    width, height = 2.6 * columns + left, 2.1 * rows + top + bottom
    fig, axes = plt.subplots(rows, columns, figsize=(width, height), sharex=True, sharey=sharey, squeeze=False)
    fig.subplots_adjust(  # margins in inches, whatever the grid's size (tight_layout is slow with many panels)
        left=left / width,
        right=1 - 0.15 / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=0.18 if sharey else 0.3,
        hspace=0.45,
    )
    labels: dict[str, Any] = {}
    colours = plt.get_cmap("tab10").colors
    for index, ax in enumerate(axes.flat):
        if index >= len(panels):
            ax.set_visible(False)
            continue
        panel = panels[index]
        ax.set_title(panel.title, fontsize=9)
        ax.grid(True, lw=0.3, alpha=0.5)
        ax.tick_params(labelsize=7)
        if hline is not None:
            ax.axhline(hline, color="black", lw=0.6)
        if panel.reference is not None:
            (line,) = ax.plot(panel.reference.x, panel.reference.mean, **BASELINE_STYLE)
            labels.setdefault("baseline (mean)", line)
        for position, (label, curve) in enumerate(panel.curves.items()):
            colour = colours[position % len(colours)]
            ax.fill_between(curve.x, curve.low, curve.high, color=colour, alpha=0.2, lw=0)
            (line,) = ax.plot(curve.x, curve.mean, color=colour, lw=1.4, marker="." if curve.x.size < 8 else None)
            labels.setdefault(label, line)
        if not panel.curves and panel.note:
            ax.text(0.5, 0.5, panel.note, ha="center", va="center", fontsize=8, color="#555555", transform=ax.transAxes)
    for column in range(columns):  # the lowest panel of each column carries the x axis
        lowest = axes[max(r for r in range(rows) if r * columns + column < len(panels)), column]
        lowest.xaxis.set_tick_params(labelbottom=True)
        lowest.set_xlabel(xlabel, fontsize=8)
    if ylabel:
        for ax in axes[:, 0]:
            ax.set_ylabel(ylabel, fontsize=8)
    fig.suptitle(title, fontsize=10, y=1 - 0.08 / height, va="top")
    if with_legend and labels:
        fig.legend(
            list(labels.values()), list(labels), loc="lower center", ncol=min(len(labels), 5), fontsize=8, frameon=False
        )
    return png(fig)


@dataclass(frozen=True)
class ForestRow:
    """One method's difference to the baseline on one metric, with its interval (x100 points)."""

    method: str
    diff: float
    low: float
    high: float
    significant: bool


def forest_png(metrics: Mapping[str, Sequence[ForestRow]], *, title: str, baseline: str) -> bytes:
    """One panel per metric: a point per method at its difference to the baseline, the interval as a
    whisker, filled where the test finds a difference; the line at 0 is the baseline."""
    plt = pyplot()
    names = list(metrics)
    methods = list(dict.fromkeys(r.method for rows in metrics.values() for r in rows))
    columns = min(len(names), 4) or 1
    rows_of_panels = math.ceil(max(len(names), 1) / columns)
    height = 0.9 + rows_of_panels * (0.3 * len(methods) + 0.7)
    fig, axes = plt.subplots(rows_of_panels, columns, figsize=(2.4 * columns + 1.6, height), sharey=True, squeeze=False)
    y = {m: len(methods) - 1 - i for i, m in enumerate(methods)}
    for index, ax in enumerate(axes.flat):
        if index >= len(names):
            ax.set_visible(False)
            continue
        name = names[index]
        ax.axvline(0.0, color="#777777", lw=1, ls="--")
        for row in metrics[name]:
            colour = "#b00000" if row.significant else "#1f4e99"
            if math.isfinite(row.low) and math.isfinite(row.high):
                ax.plot([row.low, row.high], [y[row.method]] * 2, color=colour, lw=1.6)
            if math.isfinite(row.diff):
                face = colour if row.significant else "white"
                ax.plot(row.diff, y[row.method], "o", color=colour, markerfacecolor=face, ms=5)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, axis="x", lw=0.3, alpha=0.5)
        ax.set_yticks(list(y.values()), list(y))
        ax.set_ylim(-0.7, len(methods) - 0.3)
        ax.set_xlabel(f"difference to {baseline}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return png(fig)
