"""The paired bootstrap of a leaderboard cell, vectorised over resamples.

Level 1 (test examples): each resample draws n example indices with replacement, and the SAME
indices serve every method and every seed, so comparisons are paired on examples (Koehn 2004).
Every run's corpus metric is recomputed from the weighted sums of its per-example sufficient
statistics (BLEU, CE F1 ... exactly, never as means of per-example scores). All runs of all
methods sit side by side in one [n, runs x width] matrix, so one matrix product per chunk of
resamples gives every run's summed statistics; chunks bound the memory.

What the default test uses (:mod:`mtlbench.stats.components`): each method's mean over ALL its
seeds on every example resample (``example_samples``), and the covariance of each run's
deviation from that mean (``run_noise``: each run's own test-set noise).

Level 2 (seeds; ``--test bootstrap``, the former default): each method's seeds are also resampled
with replacement, rescaled by sqrt(S/(S-1)) around the all-seed mean of the same example
resample as modified residuals are (Davison and Hinkley 1997, ch. 6), and the p-value is the
percentile one. benchmarks/stats_calibration.md measures what that does: with 3-5 seeds its
tails are too thin where seed variance dominates (a percentile over 3-5 values), and where seeds
do not matter it counts each run's test-set noise twice (once through the seeds, once through
the examples) and rejects almost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtlbench.stats.catalogue import MetricDef, evaluate
from mtlbench.stats.features import Layout

WEIGHT_BUDGET = 4_000_000
"""Most example weights (resamples x examples) held at once; sets the chunk size."""


@dataclass(frozen=True)
class MethodData:
    """One method's runs in a cell: per seed, the [n, width] statistics of the aligned examples."""

    name: str
    runs: tuple[np.ndarray, ...]
    seeds: tuple[int, ...] = ()
    """The seed of each run (same order as ``runs``); pairs runs across methods where a test needs it."""


@dataclass(frozen=True)
class BootstrapResult:
    """Per method: point estimates (mean over seeds), per-seed values, and the resampled means."""

    point: np.ndarray
    """[M, K] mean over seeds of each metric."""
    per_seed: tuple[np.ndarray, ...]
    """per method, [S_m, K] each seed's metric values."""
    samples: np.ndarray
    """[B, M, K] resampled means (two levels unless ``resample_seeds`` was False)."""
    example_samples: np.ndarray
    """[B, M, K] each method's mean over ALL its seeds on each example resample (level 1 only)."""
    run_noise: tuple[np.ndarray, ...]
    """per method, [K, K]: the sum over its runs of the example-resampling covariance of each run's
    deviation from the method's seed mean (see :mod:`mtlbench.stats.components`)."""
    run_samples: tuple[np.ndarray, ...] | None = None
    """per method, [B, S_m, K] every run's value on every example resample (``keep_runs`` only)."""


def point_values(layout: Layout, defs: Sequence[MetricDef], runs: Sequence[np.ndarray]) -> np.ndarray:
    """[S, K] metrics of each run on the full test set."""
    n = runs[0].shape[0]
    sums = np.stack([r.sum(axis=0) for r in runs])
    return evaluate(defs, layout.split(sums), float(n))


def resample_weights(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    """[b, n] how often each of n examples is drawn in each of b resamples (rows sum to n)."""
    draws = rng.integers(0, n, size=(b, n))
    offsets = n * np.arange(b)[:, None]  # one bincount over all rows: row r counts into [r n, (r + 1) n)
    return np.bincount((draws + offsets).ravel(), minlength=b * n).reshape(b, n).astype(float)


def chunk_size(n: int, resamples: int) -> int:
    """Resamples per chunk so that the [chunk, n] weight matrix stays within WEIGHT_BUDGET."""
    return max(1, min(resamples, WEIGHT_BUDGET // max(n, 1)))


def side_by_side(methods: Sequence[MethodData]) -> tuple[np.ndarray, list[slice]]:
    """All runs as one [n, R x width] matrix (run-major), and each method's slice of the R runs."""
    blocks, spans, start = [], [], 0
    for method in methods:
        stacked = np.stack(method.runs, axis=1)  # [n, S, width]
        blocks.append(stacked.reshape(stacked.shape[0], -1))
        spans.append(slice(start, start + stacked.shape[1]))
        start += stacked.shape[1]
    return np.ascontiguousarray(np.concatenate(blocks, axis=1)), spans


class WeightedSums:
    """``weights @ matrix`` for example-weight chunks, exact and fast.

    Columns of integer counts (BLEU n-gram matches and lengths, CE TP/FP/FN) whose weighted sums
    stay below 2^24 are summed in float32, which is exact there (every partial sum is an integer
    float32 represents) and twice as fast; the other columns in float64.
    """

    def __init__(self, matrix: np.ndarray) -> None:
        n = matrix.shape[0]
        integer = np.all(matrix == np.round(matrix), axis=0) & (n * np.abs(matrix).max(axis=0, initial=0) < 2**24)
        self.exact = np.flatnonzero(integer)
        self.other = np.flatnonzero(~integer)
        self.width = matrix.shape[1]
        self.exact_part = np.ascontiguousarray(matrix[:, self.exact], dtype=np.float32)
        self.other_part = np.ascontiguousarray(matrix[:, self.other])

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        out = np.empty((weights.shape[0], self.width))
        if self.exact.size:
            out[:, self.exact] = weights.astype(np.float32) @ self.exact_part
        if self.other.size:
            out[:, self.other] = weights @ self.other_part
        return out


def paired_bootstrap(
    layout: Layout,
    defs: Sequence[MetricDef],
    methods: Sequence[MethodData],
    *,
    resamples: int,
    rng: np.random.Generator,
    chunk: int | None = None,
    resample_seeds: bool = True,
    rescale_seeds: bool = True,
    keep_runs: bool = False,
) -> BootstrapResult:
    """Resampled per-method means of every metric in ``defs`` (two levels, examples shared).

    ``keep_runs`` also returns each run's resampled values (memory B x runs x K), for studies of
    other resampling schemes (benchmarks/stats_calibration.py).
    """
    n = methods[0].runs[0].shape[0]
    width = layout.width
    per_seed = tuple(point_values(layout, defs, m.runs) for m in methods)
    point = np.stack([values.mean(axis=0) for values in per_seed])
    matrix, spans = side_by_side(methods)
    weighted_sums = WeightedSums(matrix)
    example_samples = np.empty((resamples, len(methods), len(defs)))
    samples = np.empty_like(example_samples) if resample_seeds else example_samples  # level 1 only: the same
    noise = [_NoiseAccumulator(span.stop - span.start, len(defs)) for span in spans]
    runs = [np.empty((resamples, span.stop - span.start, len(defs))) for span in spans] if keep_runs else None
    step = chunk or chunk_size(n, resamples)
    for start in range(0, resamples, step):
        b = min(step, resamples - start)
        weights = resample_weights(rng, n, b)
        sums = weighted_sums(weights).reshape(b, -1, width)  # [b, R, width]: every run, same examples
        values = evaluate(defs, layout.split(sums), float(n))  # [b, R, K]
        for j, span in enumerate(spans):
            example_samples[start : start + b, j] = values[:, span].mean(axis=1)
            noise[j].add(values[:, span])
            if runs is not None:
                runs[j][start : start + b] = values[:, span]
            if resample_seeds:
                samples[start : start + b, j] = _seed_level(values[:, span], rng, resample_seeds, rescale_seeds)
    return BootstrapResult(
        point=point,
        per_seed=per_seed,
        samples=samples,
        example_samples=example_samples,
        run_noise=tuple(acc.total() for acc in noise),
        run_samples=tuple(runs) if runs is not None else None,
    )


class _NoiseAccumulator:
    """Streams sum_s Cov*(y*_s - mean_s' y*_s') over chunks of resamples, for one method's S runs."""

    def __init__(self, runs: int, k: int) -> None:
        self.count = 0
        self.first = np.zeros((runs, k))
        self.second = np.zeros((k, k))

    def add(self, values: np.ndarray) -> None:
        deviations = np.nan_to_num(values - values.mean(axis=1, keepdims=True))  # [b, S, K]
        self.count += values.shape[0]
        self.first += deviations.sum(axis=0)
        self.second += np.einsum("bsk,bsl->kl", deviations, deviations)

    def total(self) -> np.ndarray:
        if self.count < 2:
            return np.zeros_like(self.second)
        mean = self.first / self.count
        return (self.second - self.count * mean.T @ mean) / (self.count - 1)


def _seed_level(values: np.ndarray, rng: np.random.Generator, resample: bool, rescale: bool) -> np.ndarray:
    """[b, K] mean over resampled seeds of one method's [b, S, K] per-seed values."""
    s = values.shape[1]
    full = values.mean(axis=1)
    if not resample or s == 1:
        return full
    picks = rng.integers(0, s, size=(values.shape[0], s))
    drawn = np.take_along_axis(values, picks[:, :, None], axis=1).mean(axis=1)
    factor = np.sqrt(s / (s - 1)) if rescale else 1.0
    return full + factor * (drawn - full)


def two_sided_p(differences: np.ndarray) -> np.ndarray:
    """Bootstrap p-value of "no difference" from resampled differences (axis 0): twice the
    smaller tail beyond 0, with the +1 correction that keeps it above 0. NaN where every
    difference is NaN."""
    b = differences.shape[0]
    below = (differences <= 0).sum(axis=0)
    above = (differences >= 0).sum(axis=0)
    p = np.minimum(1.0, 2 * (np.minimum(below, above) + 1) / (b + 1))
    return np.where(np.isnan(differences).all(axis=0), np.nan, p)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0."""
    tail = (1 - level) / 2 * 100
    return np.percentile(samples, tail, axis=0), np.percentile(samples, 100 - tail, axis=0)
