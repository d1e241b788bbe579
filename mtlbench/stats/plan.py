"""`mtlbench plan`: how many seeds and test examples a study needs, from a pilot store.

For each cell of the pilot and each headline metric (and Delta_m%), the variance components of
"method minus baseline" (:mod:`mtlbench.stats.components`) are measured for every method of the
pilot and averaged over them: the pure seed variance of one run (each side), one run's own
test-set noise and the test-set (interaction) variance of the difference, both at the pilot's n0
test examples. :class:`mtlbench.stats.power.Design` then gives the power of the default crossed
t-test to detect an absolute difference delta with S seeds on n examples (noise and interaction
scale as n0 / n), the fewest seeds that reach the target power on the pilot's test set, and the
fewest test examples that reach it with a given number of seeds.

The power is per comparison at the given alpha; for a table corrected over a family of m
comparisons, plan at alpha / m (a Bonferroni bound on what max-T needs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from mtlbench.errors import MtlbenchError
from mtlbench.stats.across import delta_m
from mtlbench.stats.catalogue import DELTA_M, METRICS
from mtlbench.stats.cells import cell_bootstrap
from mtlbench.stats.components import Components, contrast_variance, difference, estimate, linearised
from mtlbench.stats.loading import load_cell
from mtlbench.stats.power import Design
from mtlbench.stats.settings import Settings
from mtlbench.stats.store import scan

DEFAULT_DELTA_POINTS = 1.0
"""Difference to detect when none is given: one point (x100) of each headline metric, 1% of Delta_m%."""


@dataclass(frozen=True)
class PlanRow:
    metric: str
    delta: float
    """In table units (x100 for metrics, percent for Delta_m%)."""
    design: Design
    """Components in table units squared."""
    pilot_seeds: int
    power_now: float
    seeds_needed: int | None
    examples_needed: int | None


@dataclass(frozen=True)
class CellPlan:
    title: str
    examples: int
    methods: int
    rows: list[PlanRow]


def _side(components: Components, contrast: np.ndarray, method: int) -> tuple[float, float]:
    """(pure seed variance, test-set noise variance) of one run of ``method`` along ``contrast``."""
    weights = contrast[method]
    noise = float(weights @ components.run_noise[method] @ weights)
    spread = float(weights @ components.run_cov[method] @ weights)
    return max(spread - noise, 0.0), noise


def pilot_design(
    components: Components, contrasts: list[tuple[int, np.ndarray]], baseline: int, examples: int
) -> Design:
    """The components of ``contrasts`` [(method, [M, K])] against ``baseline``, averaged over methods."""
    seeds, noises, interactions = [], [], []
    for method, contrast in contrasts:
        seed_a, noise_a = _side(components, contrast, method)
        seed_b, noise_b = _side(components, contrast, baseline)
        seeds.append((seed_a, seed_b))
        noises.append((noise_a, noise_b))
        interactions.append(float(contrast_variance(components, contrast[None]).examples[0]))
    seed = tuple(float(x) for x in np.mean(seeds, axis=0))
    noise = tuple(float(x) for x in np.mean(noises, axis=0))
    return Design((seed[0], seed[1]), (noise[0], noise[1]), float(np.mean(interactions)), examples)


def plan(
    results: Path,
    settings: Settings,
    deltas: Mapping[str, float],
    *,
    target: float = 0.8,
    most_seeds: int = 100,
    seeds: int | None = None,
    most_examples: int = 1_000_000,
) -> tuple[list[CellPlan], list[str]]:
    """Plans for every cell of the pilot store, and one line per cell that cannot give one."""
    plans, skipped = [], []
    for cell in scan(Path(results)):
        data = load_cell(cell)
        if isinstance(data, str):
            skipped.append(f"{cell.key.title}: {data}")
            continue
        names = [m.name for m in data.methods]
        if settings.baseline not in names:
            skipped.append(f"{data.title}: baseline {settings.baseline!r} has no finished run here")
            continue
        b = names.index(settings.baseline)
        usable = [j for j, m in enumerate(data.methods) if j != b and len(m.runs) > 1]
        if len(data.methods[b].runs) < 2 or not usable:
            skipped.append(
                f"{data.title}: the pilot needs the baseline and at least one other method with 2 or more seeds "
                "each (seed variance and the test-set part of a difference)"
            )
            continue
        boot = cell_bootstrap(data, settings)
        components = estimate(boot)
        m, k = boot.point.shape
        keys = [d.key for d in data.metrics]
        summary = [i for i, d in enumerate(data.metrics) if d.key in settings.summary_metrics]
        rows = []
        pilot_seeds = min(len(data.methods[j].runs) for j in [b, *usable])
        for key, points in deltas.items():
            if key == DELTA_M:
                if not summary:
                    continue
                function = partial(
                    _delta_m,
                    summary=summary,
                    higher=[data.metrics[i].higher_is_better for i in summary],
                    tasks=[data.metrics[i].group for i in summary],
                )
                contrasts = [(j, linearised(function, boot.point, j, b)) for j in usable]
                scale, label = 1.0, "Δm%"
            elif key in keys:
                column = keys.index(key)
                contrasts = [(j, difference(m, k, j, b, column)) for j in usable]
                scale, label = 100.0, data.metrics[column].label
            else:
                continue
            raw = pilot_design(components, contrasts, b, data.n_examples)
            design = Design(
                (raw.seed[0] * scale**2, raw.seed[1] * scale**2),
                (raw.noise[0] * scale**2, raw.noise[1] * scale**2),
                raw.interaction * scale**2,
                data.n_examples,
            )
            planned = seeds or pilot_seeds
            rows.append(
                PlanRow(
                    metric=label,
                    delta=points,
                    design=design,
                    pilot_seeds=pilot_seeds,
                    power_now=design.power(points, pilot_seeds, data.n_examples, settings.alpha),
                    seeds_needed=design.seeds_needed(points, data.n_examples, settings.alpha, target, most_seeds),
                    examples_needed=design.examples_needed(points, planned, settings.alpha, target, most_examples),
                )
            )
        plans.append(CellPlan(data.title, data.n_examples, len(usable) + 1, rows))
    return plans, skipped


def _delta_m(
    method: np.ndarray, baseline: np.ndarray, *, summary: list[int], higher: list[bool], tasks: list[str]
) -> np.ndarray:
    return delta_m(method[..., summary], baseline[..., summary], higher, tasks)


def parse_deltas(items: tuple[str, ...], settings: Settings) -> dict[str, float]:
    """KEY=POINTS pairs (KEY a metric key or delta_m); by default one point per summary metric and Δm%."""
    if not items:
        return {**dict.fromkeys(settings.summary_metrics, DEFAULT_DELTA_POINTS), DELTA_M: DEFAULT_DELTA_POINTS}
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in (*METRICS, DELTA_M):
            raise MtlbenchError(
                f"--delta {item!r}: give METRIC=POINTS with METRIC one of {', '.join(METRICS)}, {DELTA_M}; "
                "e.g. BLEU_4=1"
            )
        try:
            points = float(value)
        except ValueError:
            raise MtlbenchError(
                f"--delta {item!r}: {value!r} is not a number of points (x100), e.g. BLEU_4=1"
            ) from None
        if not points > 0:
            raise MtlbenchError(f"--delta {item!r}: the difference to detect must be positive")
        out[key] = points
    return out
