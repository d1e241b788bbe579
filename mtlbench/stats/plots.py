"""Critical-difference diagram (Demsar 2006) as PNG bytes; matplotlib is the optional extra 'plots'.

Methods sit on an axis of mean ranks (1 = best, on the left). The better half is labelled on the
left (best on top), the other half on the right (worst on top), so that no lines cross. A thick
bar joins methods the post-hoc test does not tell apart; with Nemenyi the critical difference
is drawn above the axis.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np

from mtlbench.errors import MtlbenchError

PLOTS_HINT = 'the critical-difference diagram needs matplotlib: pip install "mtlbench[plots]"'


class PlotsUnavailable(MtlbenchError):
    """matplotlib is not installed; the leaderboard goes on without its diagram."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise PlotsUnavailable(PLOTS_HINT) from err
    return plt


def cd_diagram_png(
    methods: Sequence[str],
    mean_ranks: np.ndarray,
    groups: Sequence[Sequence[int]],
    *,
    cd: float | None = None,
    title: str = "",
) -> bytes:
    """The diagram as PNG bytes; ``groups`` are the cliques (indices into ``methods``)."""
    plt = _pyplot()
    k = len(methods)
    mean_ranks = np.asarray(mean_ranks, float)
    order = [int(i) for i in np.argsort(mean_ranks, kind="stable")]
    low, high = 1, max(k, 2)
    left = order[: math.ceil(k / 2)]
    right = order[math.ceil(k / 2) :][::-1]  # the worst on top, so that no lines cross
    rows = max(len(left), len(right))
    bar_space = 0.25 * len(groups)
    height = 1.6 + 0.32 * rows + bar_space
    fig, ax = plt.subplots(figsize=(8, height))
    top = 0.0
    ax.plot([low, high], [top, top], color="black", lw=1.2)
    for tick in range(low, high + 1):
        ax.plot([tick, tick], [top, top + 0.08], color="black", lw=1)
        ax.text(tick, top + 0.14, str(tick), ha="center", va="bottom", fontsize=9)
    for half in np.arange(low + 0.5, high, 1.0):
        ax.plot([half, half], [top, top + 0.04], color="black", lw=0.7)
    label_left, label_right = low - 0.35, high + 0.35
    first_row = -0.45 - bar_space
    for row, idx in enumerate(left):
        y = first_row - 0.32 * row
        x = mean_ranks[idx]
        ax.plot([x, x, label_left + 0.08], [top, y, y], color="#444444", lw=0.8)
        ax.text(label_left, y, f"{methods[idx]} ({x:.2f})", ha="right", va="center", fontsize=9)
    for row, idx in enumerate(right):
        y = first_row - 0.32 * row
        x = mean_ranks[idx]
        ax.plot([x, x, label_right - 0.08], [top, y, y], color="#444444", lw=0.8)
        ax.text(label_right, y, f"({x:.2f}) {methods[idx]}", ha="left", va="center", fontsize=9)
    for level, group in enumerate(groups):
        y = -0.2 - 0.25 * level
        xs = mean_ranks[list(group)]
        ax.plot([xs.min() - 0.03, xs.max() + 0.03], [y, y], color="black", lw=3.5, solid_capstyle="round")
    if cd is not None and math.isfinite(cd):
        y = top + 0.55
        ax.plot([low, low + cd], [y, y], color="#b00000", lw=1.5)
        for x in (low, low + cd):
            ax.plot([x, x], [y - 0.05, y + 0.05], color="#b00000", lw=1.5)
        ax.text(low + cd / 2, y + 0.08, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9, color="#b00000")
    if title:
        ax.set_title(title, fontsize=9)
    ax.set_xlim(low - 2.6, high + 2.6)
    ax.set_ylim(first_row - 0.32 * rows, top + 1.0)
    ax.axis("off")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=130)
    plt.close(fig)
    return buffer.getvalue()
