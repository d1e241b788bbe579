"""Variance components of a cell's crossed design: seeds x the same test examples for every method.

A method m has S_m runs (seeds), all scored on the same n test examples. Its seed-averaged corpus
metric varies for three reasons (Searle, Casella & McCulloch 1992, "Variance Components", for the crossed
random-effects model; the terms below are their per-contrast sums):

- the seed part: run-to-run variation of the full-test-set value (training randomness), with
  few degrees of freedom, estimated by the sample covariance ``run_cov`` of the S_m per-run
  values. It also contains each run's own test-set noise (below), once.
- the example part: which n examples the test set happens to hold (example difficulty and the
  method-by-example interaction, shared by all seeds of a method), estimated with many degrees
  of freedom by the paired example bootstrap that keeps every seed (``example_cov``). It contains
  each run's own test-set noise too, divided by S_m.
- each run's own example-level noise (how this run, rather than the method, does on these
  examples): estimated from the same example resamples as the covariance of each run's deviation
  from its method's seed mean (``run_noise``; for S runs, sum_s Cov*(y*_s - ybar*) has
  expectation (S - 1) x the per-run covariance).

For a contrast L of method means (a difference of two methods on one metric, or the linearised
Delta_m%), Var(L'ybar) = sum_m L_m' run_cov_m L_m / S_m + max(L' example_cov L - sum_m L_m' run_noise_m
L_m / S_m, 0): the run noise, counted in both estimates, is removed once (the old two-level
bootstrap kept both copies: about 1% false positives when seeds do not matter). Satterthwaite's
(1946) degrees of freedom give the seed part S_m - 1 each (Welch 1947) and the example part,
estimated from thousands of examples, infinitely many; so the test reduces to Welch's t where
seeds dominate and to a bootstrap z-test where examples dominate.

Corpus metrics (BLEU, CE F1 from summed counts, CIDEr, METEOR) enter exactly: every per-run value
and every resampled value is computed from summed sufficient statistics. A smooth function of
method means (Delta_m%) enters through its gradient at the point estimate (the delta method).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import block_diag

from mtlbench.stats.bootstrap import BootstrapResult

GRADIENT_STEP = 1e-6
"""Relative step of the central differences that linearise a function of method means."""


@dataclass(frozen=True)
class Components:
    """What the variance of any contrast of a cell's method means is made of ([M] methods, [K] metrics)."""

    point: np.ndarray
    """[M, K] each method's mean over its seeds."""
    seeds: np.ndarray
    """[M] number of runs of each method."""
    run_cov: np.ndarray
    """[M, K, K] covariance (ddof 1) of the runs' full-test-set values; 0 for a method with one run."""
    run_noise: np.ndarray
    """[M, K, K] covariance of one run's own test-set noise; 0 for a method with one run."""
    example_cov: np.ndarray
    """[M K, M K] covariance, over example resamples, of the all-seed means (methods x metrics, flattened)."""


@dataclass(frozen=True)
class ContrastVariance:
    """The variance of contrasts ``[F]`` and where it comes from."""

    variance: np.ndarray
    seed: np.ndarray
    """Seed part (with one copy of the run noise): sum_m L_m' run_cov_m L_m / S_m."""
    examples: np.ndarray
    """Example part without the run noise (never negative)."""
    noise: np.ndarray
    """The run noise removed once: sum_m L_m' run_noise_m L_m / S_m."""
    df: np.ndarray
    """Welch-Satterthwaite degrees of freedom (inf where the seed part is 0)."""

    @property
    def seed_share(self) -> np.ndarray:
        """Share of the variance estimated from the runs' full-test-set values (few df): it sets the df."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.clip(self.seed / self.variance, 0.0, 1.0)

    @property
    def pure_seed_share(self) -> np.ndarray:
        """Share of the variance due to training randomness alone (each run's test-set noise left out)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.clip((self.seed - self.noise) / self.variance, 0.0, 1.0)


def estimate(boot: BootstrapResult) -> Components:
    """The components of a cell from its example bootstrap (``boot.example_samples``, all seeds kept)."""
    m, k = boot.point.shape
    seeds = np.array([len(v) for v in boot.per_seed])
    run_cov = np.zeros((m, k, k))
    run_noise = np.zeros((m, k, k))
    for j, values in enumerate(boot.per_seed):
        if len(values) > 1:
            run_cov[j] = np.atleast_2d(np.cov(values, rowvar=False, ddof=1))
            run_noise[j] = boot.run_noise[j] / (len(values) - 1)
    flat = boot.example_samples.reshape(boot.example_samples.shape[0], m * k)
    example_cov = np.atleast_2d(np.cov(flat, rowvar=False, ddof=1))
    return Components(boot.point, seeds, np.nan_to_num(run_cov), np.nan_to_num(run_noise), np.nan_to_num(example_cov))


def _per_method(contrasts: np.ndarray, matrices: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """[F, M] L_m' A_m L'_m for each contrast (with itself, or with ``other``) and method."""
    right = contrasts if other is None else other
    return np.einsum("fmk,mkl,fml->fm", contrasts, matrices, right)


def contrast_variance(components: Components, contrasts: np.ndarray) -> ContrastVariance:
    """Variance of each contrast ``[F, M, K]`` (coefficients on the method means) with its df."""
    contrasts = np.nan_to_num(np.asarray(contrasts, float))
    seeds = components.seeds.astype(float)
    seed_parts = _per_method(contrasts, components.run_cov) / seeds
    noise = (_per_method(contrasts, components.run_noise) / seeds).sum(axis=1)
    flat = contrasts.reshape(contrasts.shape[0], -1)
    examples_with_noise = np.einsum("fa,ab,fb->f", flat, components.example_cov, flat)
    examples = np.maximum(examples_with_noise - noise, 0.0)
    seed = seed_parts.sum(axis=1)
    variance = seed + examples
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = (seed_parts**2 / np.maximum(seeds - 1, 1)).sum(axis=1)
        df = np.where(denominator > 0, variance**2 / denominator, np.inf)
    return ContrastVariance(variance, seed, examples, noise, df)


def contrast_covariance(components: Components, contrasts: np.ndarray, *, seed_cross_metric: bool = True) -> np.ndarray:
    """[F, F] covariance of the contrasts, each variance as in :func:`contrast_variance`.

    Off the diagonal the three parts are combined without truncation; the diagonal holds the
    truncated variances, so that each contrast keeps the variance its own test uses. With
    ``seed_cross_metric`` False, the seed part of two contrasts on different metrics is taken as
    uncorrelated: a between-metric covariance estimated from S - 1 runs is so noisy that a max-T
    critical value built on it is too small (its sample correlations scatter towards +-1), while
    zero errs towards independence, the least favourable case (Sidak 1967).
    """
    contrasts = np.nan_to_num(np.asarray(contrasts, float))
    per_seed = components.seeds.astype(float)[:, None, None]
    seed = (components.run_cov - components.run_noise) / per_seed  # seed part minus the noise counted twice
    if not seed_cross_metric:
        seed = seed * np.eye(seed.shape[-1])
    flat = contrasts.reshape(contrasts.shape[0], -1)
    covariance = flat @ (block_diag(*seed) + components.example_cov) @ flat.T
    np.fill_diagonal(covariance, contrast_variance(components, contrasts).variance)
    return covariance


def difference(m: int, k: int, method: int, baseline: int, metric: int) -> np.ndarray:
    """[M, K] the contrast "method minus baseline" on one metric."""
    out = np.zeros((m, k))
    out[method, metric] += 1.0
    out[baseline, metric] -= 1.0
    return out


Function = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(method means [..., K], baseline means [..., K]) -> a scalar per leading index, e.g. Delta_m%."""


def linearised(function: Function, point: np.ndarray, method: int, baseline: int) -> np.ndarray:
    """[M, K] the gradient of ``function(point[method], point[baseline])`` on the method means.

    Central differences with a relative step: one definition of the function (no hand-derived
    twin that could drift from it); metrics the function ignores get a zero coefficient.
    """
    m, k = point.shape
    out = np.zeros((m, k))
    for row, other, first in ((method, baseline, True), (baseline, method, False)):
        step = GRADIENT_STEP * np.maximum(np.abs(point[row]), 1e-3)
        shifted = np.repeat(point[row][None], 2 * k, axis=0)
        index = np.arange(k)
        shifted[index, index] += step
        shifted[k + index, index] -= step
        fixed = np.repeat(point[other][None], 2 * k, axis=0)
        values = function(shifted, fixed) if first else function(fixed, shifted)
        gradient = (values[:k] - values[k:]) / (2 * step)
        out[row] += np.nan_to_num(gradient)
    return out
