"""Randomization tests that respect what is exchangeable: whole runs, or examples of one run each.

Run level (any method with several seeds): under the null hypothesis that the two methods are the
same, the runs of a seed-matched pair (seed s of one, seed s of the other) are exchangeable, so
swapping whole runs within pairs leaves the distribution of the difference of seed means
unchanged. With P pairs there are 2^P swaps; all of them are enumerated up to
:data:`EXACT_PAIRS` pairs (an exact test: Fisher 1935, the paired sign-flip permutation test), a random sample of
them beyond. Swapping whole runs moves each run's full-test-set corpus value, so nonlinear corpus
metrics need nothing per example. The smallest attainable two-sided p is 2 / 2^P (0.25 with 3
pairs, 0.0625 with 5): with fewer than 6 pairs nothing can be significant at 0.05, and the
leaderboard says so instead of printing a dagger. Like every per-seed test it conditions on the
test set: it asks whether the methods differ on THESE examples, so a method-by-example interaction
counts as a real difference, and where the test set carries a sizeable share of the variance it
rejects far more than alpha of the nulls that hold over test sets (benchmarks/stats_calibration.md);
the leaderboard then says so.

Example level (one seed per method): paired approximate randomization (Noreen 1989; Riezler and
Maxwell 2005). Swapping the two systems' outputs on an example (probability 1/2, independently
per example) is exact when the two trained models are exchangeable on every example; it tests
these two trained models, not the methods: seed-to-seed variation is not in it, which is why it
is never used across several seeds (with seed effects it rejected 69-94% of true nulls). Corpus
metrics are recomputed from the swapped sums: a chunk of swaps is one matrix product.
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


EXACT_PAIRS = 16
"""Up to this many seed pairs every swap is enumerated (2^16 = 65,536); beyond, random swaps."""


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


def smallest_run_p(pairs: int) -> float:
    """The smallest two-sided p the run-level test can give with ``pairs`` seed pairs (exact enumeration)."""
    if pairs < 1:
        return 1.0
    return min(1.0, 2.0 / 2**pairs) if pairs <= EXACT_PAIRS else 0.0


def run_randomization(
    a_values: np.ndarray,
    b_values: np.ndarray,
    *,
    rounds: int,
    rng: np.random.Generator,
    extra: Extra | None = None,
) -> np.ndarray:
    """Two-sided p-values ``[K (+E)]`` of "paired runs are exchangeable", by swapping whole runs.

    ``a_values`` and ``b_values`` are ``[P, K]`` the full-test-set metric values of P seed-matched
    runs (row i of one paired with row i of the other). With P <= EXACT_PAIRS every swap is
    enumerated and p is exact (the identity is one of them); beyond, ``rounds`` random swaps
    with the +1 correction.
    """
    a_values, b_values = np.asarray(a_values, float), np.asarray(b_values, float)
    pairs = a_values.shape[0]
    if pairs == 0 or b_values.shape != a_values.shape:
        raise ValueError("run-level randomization needs the same positive number of paired runs on both sides")
    exact = pairs <= EXACT_PAIRS
    if exact:
        swaps = ((np.arange(2**pairs)[:, None] >> np.arange(pairs)) & 1).astype(float)
    else:
        swaps = rng.integers(0, 2, size=(rounds, pairs)).astype(float)
    moved = (b_values - a_values) / pairs  # what swapping pair i moves from a's mean to b's
    a_mean, b_mean = a_values.mean(axis=0), b_values.mean(axis=0)

    def statistic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a - b
        return np.concatenate([out, extra(a, b)], axis=-1) if extra is not None else out

    observed = np.abs(statistic(a_mean, b_mean))
    shift = swaps @ moved
    permuted = np.abs(statistic(a_mean + shift, b_mean - shift))
    reached = (permuted >= observed - RELATIVE_TIE * np.maximum(observed, 1.0)).sum(axis=0)
    p = reached / len(swaps) if exact else (reached + 1) / (len(swaps) + 1)
    return np.where(np.isnan(observed), np.nan, p)
