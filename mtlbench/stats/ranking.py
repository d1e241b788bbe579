"""Across cells: mean ranks, Friedman with Iman-Davenport, a post-hoc test, cliques and mean Delta_m%.

Blocks are (cell, summary metric) pairs: every method's mean over seeds of that metric in that
cell, oriented so that higher is better. With the few cells of a typical grid this gives the
ranks something to stand on, as MTL papers rank methods over metric columns; the metrics of one
cell are not independent, though, so the p-values are optimistic and the caption says so.
Methods missing from some cell are left out of this comparison (and named), never imputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mtlbench.stats.across import Friedman, cliques, friedman, nemenyi, nemenyi_cd, wilcoxon_holm
from mtlbench.stats.cells import CellResult
from mtlbench.stats.settings import Settings


@dataclass
class Ranking:
    """The across-cell comparison of the methods every cell has."""

    methods: list[str]
    blocks: list[str]
    scores: np.ndarray
    """[N blocks, k methods], higher is better."""
    friedman: Friedman
    posthoc: str
    p: np.ndarray
    """[k, k] post-hoc p-values (Holm-corrected for Wilcoxon; Nemenyi's own otherwise)."""
    cd: float | None
    """Nemenyi's critical difference of mean ranks (None with Wilcoxon-Holm)."""
    groups: list[tuple[int, ...]]
    """Cliques of methods the post-hoc test does not tell apart."""
    delta_m: np.ndarray
    """[k] mean over cells of Delta_m% (NaN where a cell has no baseline)."""
    n_cells: int
    metrics: list[str]
    excluded: list[str] = field(default_factory=list)

    @property
    def mean_ranks(self) -> np.ndarray:
        return self.friedman.mean_ranks


def rank_across(results: Sequence[CellResult], settings: Settings) -> Ranking | str:
    """The across-cell ranking, or a one-line reason why there is none."""
    if not results:
        return "no cell to rank"
    common = [m for m in results[0].methods if all(m in r.methods for r in results)]
    everywhere = set(common)
    excluded = sorted(
        {
            f"{m} (missing from {sum(m not in r.methods for r in results)} of {len(results)} cells)"
            for r in results
            for m in r.methods
            if m not in everywhere
        }
    )
    keys = [k for k in settings.summary_metrics if all(k in (d.key for d in r.metrics) for r in results)]
    if len(common) < 2:
        return "fewer than two methods have runs in every cell"
    if not keys:
        return "no summary metric is present in every cell"
    rows, names = [], []
    for r in results:
        for key in keys:
            column = r.index(key)
            sign = r.metrics[column].sign
            rows.append([sign * r.mean[r.methods.index(m), column] for m in common])
            names.append(f"{r.title}: {r.metrics[column].label}")
    scores = np.array(rows)
    if len(rows) < 2:
        return f"one block only ({names[0]}): nothing to rank across"
    test = friedman(scores)
    if settings.posthoc == "nemenyi":
        p = nemenyi(scores)
        cd: float | None = nemenyi_cd(len(common), len(rows), settings.alpha)
    else:
        p = wilcoxon_holm(scores)
        cd = None
    delta = np.array(
        [np.mean([r.delta_m[r.methods.index(m)] for r in results]) for m in common]
    )  # NaN if any cell lacks the baseline
    return Ranking(
        methods=common,
        blocks=names,
        scores=scores,
        friedman=test,
        posthoc=settings.posthoc,
        p=p,
        cd=cd,
        groups=cliques(test.mean_ranks, p, settings.alpha),
        delta_m=delta,
        n_cells=len(results),
        metrics=[results[0].metrics[results[0].index(k)].label for k in keys],
        excluded=excluded,
    )
