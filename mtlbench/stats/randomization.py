"""Paired approximate randomization (Noreen 1989; Riezler and Maxwell 2005) with seeds.

Under the null hypothesis the two systems are exchangeable on every test example: swapping
their outputs for an example (with probability 1/2, independently per example) leaves the
distribution of the difference unchanged. The p-value is the share of random swaps whose
absolute difference reaches the observed one, with the +1 correction of Davison and Hinkley.
Corpus metrics are recomputed from the swapped sums: swapping example i moves its statistics
from one system's total to the other's, so a chunk of swaps is one matrix product.

With several seeds, runs are paired by seed number and example i is swapped in every pair at
once; the statistic is the difference of the means over the paired seeds. The test conditions
on these trained models: it asks whether these runs differ on this test set, and ignores the
variation between seeds (the two-level bootstrap covers that).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mtlbench.stats.bootstrap import chunk_size
from mtlbench.stats.catalogue import MetricDef, evaluate
from mtlbench.stats.features import Layout

Extra = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(method means [..., K], baseline means [..., K]) -> extra statistics [..., E], e.g. Delta_m%."""

RELATIVE_TIE = 1e-12
"""Differences this close (relative) to the observed one count as reaching it (float noise)."""


def paired_runs(a_seeds: Sequence[int], b_seeds: Sequence[int]) -> list[tuple[int, int]]:
    """Index pairs of runs that share a seed number; by position if no seed is shared."""
    shared = [s for s in a_seeds if s in set(b_seeds)]
    if shared:
        return [(list(a_seeds).index(s), list(b_seeds).index(s)) for s in shared]
    return [(i, i) for i in range(min(len(a_seeds), len(b_seeds)))]


def paired_randomization(
    layout: Layout,
    defs: Sequence[MetricDef],
    a_runs: Sequence[np.ndarray],
    b_runs: Sequence[np.ndarray],
    *,
    rounds: int,
    rng: np.random.Generator,
    extra: Extra | None = None,
    chunk: int | None = None,
) -> np.ndarray:
    """Two-sided p-values ``[K (+E)]`` of "a and b are exchangeable", runs paired by position.

    ``a_runs`` and ``b_runs`` are equally long lists of [n, width] per-example statistics.
    """
    if len(a_runs) != len(b_runs) or not a_runs:
        raise ValueError("approximate randomization needs the same positive number of runs on both sides")
    n = a_runs[0].shape[0]
    width = layout.width
    a = np.stack(a_runs, axis=1)  # [n, S, width]
    b = np.stack(b_runs, axis=1)
    a_total, b_total = a.sum(axis=0), b.sum(axis=0)  # [S, width]
    moved = np.ascontiguousarray((a - b).reshape(n, -1))  # what a swap of example i moves from a to b

    def statistic(a_sums: np.ndarray, b_sums: np.ndarray) -> np.ndarray:
        a_mean = evaluate(defs, layout.split(a_sums), float(n)).mean(axis=-2)
        b_mean = evaluate(defs, layout.split(b_sums), float(n)).mean(axis=-2)
        out = a_mean - b_mean
        return np.concatenate([out, extra(a_mean, b_mean)], axis=-1) if extra is not None else out

    observed = np.abs(statistic(a_total, b_total))
    reached = np.zeros_like(observed)
    step = chunk or chunk_size(n, rounds)
    for start in range(0, rounds, step):
        size = min(step, rounds - start)
        swaps = rng.integers(0, 2, size=(size, n)).astype(float)
        shift = (swaps @ moved).reshape(size, -1, width)  # [size, S, width]
        permuted = np.abs(statistic(a_total - shift, b_total + shift))
        reached += (permuted >= observed - RELATIVE_TIE * np.maximum(observed, 1.0)).sum(axis=0)
    p = (reached + 1) / (rounds + 1)
    return np.where(np.isnan(observed), np.nan, p)
