"""Across cells: the cells are the blocks; Friedman with Iman-Davenport, a post-hoc test, mean Delta_m%,
and a Bayesian signed-rank second opinion.

Blocks must be independent units (Demsar 2006 uses data sets). The metrics of one cell are not:
BLEU-4, METEOR and ROUGE-L of one set of runs move together, and treating them as blocks made one
cell look like seven data sets (the default two-method benchmark printed a "significant" Friedman
under within-cell tables where nothing was significant). So one block is one cell (dataset x
backbone x size x tasks), and its score is the cell's Delta_m% against the baseline (positive =
better; the baseline scores 0): one number per cell that already weighs every task equally.
Cells without the baseline, or where Delta_m% is undefined, are left out and named; methods
missing from some cell too, never imputed.

With N blocks a post-hoc test may be unable to reach significance whatever the data: the smallest
two-sided Wilcoxon p is 2 / 2^N, which Holm multiplies by the number of pairs; Nemenyi's largest
possible mean-rank gap is k - 1. Then the report says so in one line and draws no
critical-difference diagram.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from mtlbench.stats.across import Friedman, cliques, friedman, nemenyi, nemenyi_cd, wilcoxon_holm
from mtlbench.stats.bayes import signed_rank
from mtlbench.stats.catalogue import DELTA_M
from mtlbench.stats.cells import CellResult
from mtlbench.stats.settings import Settings


@dataclass
class Ranking:
    """The across-cell comparison of the methods every cell has."""

    methods: list[str]
    blocks: list[str]
    scores: np.ndarray
    """[N blocks, k methods], higher is better: each cell's Delta_m% against the baseline."""
    friedman: Friedman
    posthoc: str
    p: np.ndarray
    """[k, k] post-hoc p-values (Holm-corrected for Wilcoxon; Nemenyi's own otherwise)."""
    cd: float | None
    """Nemenyi's critical difference of mean ranks (None with Wilcoxon-Holm)."""
    groups: list[tuple[int, ...]]
    """Cliques of methods the post-hoc test does not tell apart (none when it cannot tell any apart)."""
    delta_m: np.ndarray
    """[k] mean over cells of Delta_m%."""
    n_cells: int
    metrics: list[str]
    excluded: list[str] = field(default_factory=list)
    posthoc_floor: str = ""
    """Why no pair can be significant with these blocks, or "" when some can."""
    friedman_floor: float = 0.0
    """The smallest p Friedman's test can give with these blocks (exact, without ties)."""
    bayes: np.ndarray = field(default_factory=lambda: np.empty((0, 3)))
    """[k, 3] Bayesian signed-rank over the cells against the baseline: P(worse), P(equivalent), P(better)."""
    rope: float = 0.0
    """ROPE of Delta_m% (percent) of ``bayes``."""
    baseline: str = ""

    @property
    def mean_ranks(self) -> np.ndarray:
        return self.friedman.mean_ranks

    @property
    def diagram(self) -> bool:
        """Whether a critical-difference diagram can show anything: some pair can be significant."""
        return not self.posthoc_floor


def posthoc_floor(posthoc: str, k: int, n: int, alpha: float) -> str:
    """One line when no pair of k methods over n blocks can be significant at alpha, else ""."""
    if posthoc == "nemenyi":
        floor = float(stats.studentized_range.sf((k - 1) / math.sqrt(k * (k + 1) / (6 * n)) * math.sqrt(2), k, np.inf))
        if floor < alpha:
            return ""
        return (
            f"with {n} cells and {k} methods no pair can differ significantly by Nemenyi's test: even the largest "
            f"possible mean-rank gap ({k - 1}) has p = {floor:.3g} >= {alpha:g}; no critical-difference diagram "
            "is drawn"
        )
    pairs = k * (k - 1) // 2
    floor = 2.0 / 2**n
    if floor * pairs < alpha:
        return ""
    holm = f", and Holm over the {pairs} pairs needs p < {alpha / pairs:.3g}" if pairs > 1 else ""
    return (
        f"with {n} cells no pair of methods can differ significantly: the smallest two-sided Wilcoxon signed-rank "
        f"p over {n} blocks is 2/2^{n} = {floor:.3g}{holm}; no critical-difference diagram is drawn (more cells "
        "are needed; read the within-cell tables)"
    )


def rank_across(results: Sequence[CellResult], settings: Settings) -> Ranking | str:
    """The across-cell ranking, or a one-line reason why there is none."""
    if not results:
        return "no cell to rank"
    usable = [r for r in results if r.baseline is not None and not np.isnan(r.delta_m).all()]
    left_out = [f"{r.title} (no {settings.baseline} or no Δm%)" for r in results if r not in usable]
    if len(usable) < 2:
        only = "one cell" if len(results) == 1 else f"{len(usable)} cell{'s' if len(usable) != 1 else ''} with Δm%"
        return (
            f"{only} only: cells are the independent blocks of an across-cell test, so there is none; "
            "the within-cell tables are the verdict"
        )
    common = [m for m in usable[0].methods if all(m in r.methods for r in usable)]
    everywhere = set(common)
    excluded = sorted(
        {
            f"{m} (missing from {sum(m not in r.methods for r in usable)} of {len(usable)} cells)"
            for r in usable
            for m in r.methods
            if m not in everywhere
        }
    )
    excluded += left_out
    if len(common) < 2:
        return "fewer than two methods have runs in every cell"
    scores = np.array([[r.delta_m[r.methods.index(m)] if m != r.baseline else 0.0 for m in common] for r in usable])
    keep = ~np.isnan(scores).any(axis=1)
    excluded += [f"{r.title} (Δm% undefined for some method)" for r, k in zip(usable, keep) if not k]
    usable = [r for r, k in zip(usable, keep) if k]
    scores = scores[keep]
    n, k = scores.shape
    if n < 2:
        return "fewer than two cells with Δm% for every method: the within-cell tables are the verdict"
    test = friedman(scores)
    floor_line = posthoc_floor(settings.posthoc, k, n, settings.alpha)
    if settings.posthoc == "nemenyi":
        p = nemenyi(scores)
        cd: float | None = nemenyi_cd(k, n, settings.alpha)
    else:
        p = wilcoxon_holm(scores)
        cd = None
    rope = settings.rope_points(DELTA_M, DELTA_M)
    rng = np.random.default_rng([settings.seed, 3])
    bayes = np.full((k, 3), np.nan)
    for j, method in enumerate(common):
        if method != settings.baseline:
            bayes[j] = signed_rank(scores[:, j], rope, rng=rng)
    return Ranking(
        methods=common,
        blocks=[r.title for r in usable],
        scores=scores,
        friedman=test,
        posthoc=settings.posthoc,
        p=p,
        cd=cd,
        groups=[] if floor_line else cliques(test.mean_ranks, p, settings.alpha),
        delta_m=scores.mean(axis=0),
        n_cells=n,
        metrics=["Δm%"],
        excluded=excluded,
        posthoc_floor=floor_line,
        friedman_floor=float(math.factorial(k)) ** (1 - n),
        bayes=bayes,
        rope=rope,
        baseline=settings.baseline,
    )
