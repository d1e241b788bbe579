"""The two-level paired bootstrap of a leaderboard cell, vectorised over resamples.

Level 1: the test examples are resampled (multinomial weights), with the SAME weights for every
method, so comparisons are paired on examples. Level 2: each method's seeds are resampled with
replacement, so seed-to-seed variation enters every interval and test. A method's statistic on
a resample is the mean over its resampled seeds of the corpus metric recomputed from the
weighted sums of its per-example statistics (BLEU, CIDEr, CE F1 ... exactly, not as means of
per-example scores). Resamples are processed in chunks so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtlbench.stats.catalogue import MetricDef, evaluate
from mtlbench.stats.features import Layout


@dataclass(frozen=True)
class MethodData:
    """One method's runs in a cell: per seed, the [n, width] statistics of the aligned examples."""

    name: str
    runs: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class BootstrapResult:
    """Per method: point estimates (mean over seeds), per-seed values, and the resampled means."""

    point: np.ndarray
    """[M, K] mean over seeds of each metric."""
    per_seed: tuple[np.ndarray, ...]
    """per method, [S_m, K] each seed's metric values."""
    samples: np.ndarray
    """[B, M, K] resampled means."""


def point_values(layout: Layout, defs: Sequence[MetricDef], runs: Sequence[np.ndarray]) -> np.ndarray:
    """[S, K] metrics of each run on the full test set."""
    n = runs[0].shape[0]
    sums = np.stack([r.sum(axis=0) for r in runs])
    return evaluate(defs, layout.split(sums), float(n))


def paired_bootstrap(
    layout: Layout,
    defs: Sequence[MetricDef],
    methods: Sequence[MethodData],
    *,
    resamples: int,
    rng: np.random.Generator,
    chunk: int = 500,
    resample_seeds: bool = True,
) -> BootstrapResult:
    """Resampled per-method means of every metric in ``defs``."""
    n = methods[0].runs[0].shape[0]
    k = len(defs)
    per_seed = tuple(point_values(layout, defs, m.runs) for m in methods)
    point = np.stack([values.mean(axis=0) for values in per_seed])
    samples = np.empty((resamples, len(methods), k))
    stacked = [np.stack(m.runs) for m in methods]  # [S_m, n, width]
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(float)  # [b, n]
        for j, runs in enumerate(stacked):
            sums = np.einsum("bn,snw->bsw", weights, runs, optimize=True)  # [b, S, width]
            values = evaluate(defs, layout.split(sums), float(n))  # [b, S, K]
            s = runs.shape[0]
            if resample_seeds and s > 1:
                picks = rng.integers(0, s, size=(b, s))
                values = np.take_along_axis(values, picks[:, :, None], axis=1)
            samples[done : done + b, j] = values.mean(axis=1)
        done += b
    return BootstrapResult(point=point, per_seed=per_seed, samples=samples)


def two_sided_p(differences: np.ndarray) -> np.ndarray:
    """Bootstrap p-value of "no difference" from resampled differences (axis 0): twice the
    smaller tail beyond 0, with the +1 correction that keeps it above 0."""
    b = differences.shape[0]
    below = (differences <= 0).sum(axis=0)
    above = (differences >= 0).sum(axis=0)
    return np.minimum(1.0, 2 * (np.minimum(below, above) + 1) / (b + 1))


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0."""
    tail = (1 - level) / 2 * 100
    return np.percentile(samples, tail, axis=0), np.percentile(samples, 100 - tail, axis=0)
