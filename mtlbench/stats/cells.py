"""Per-cell analysis: load the runs' statistics, bootstrap them, test each method against a baseline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import false_discovery_control

from mtlbench.results import CONFIG, EXAMPLES, METRICS, read_json
from mtlbench.stats.across import holm
from mtlbench.stats.bootstrap import MethodData, paired_bootstrap, percentile_interval, two_sided_p
from mtlbench.stats.catalogue import METRICS as METRIC_DEFS
from mtlbench.stats.catalogue import MetricDef, variants
from mtlbench.stats.features import Layout, build_blocks
from mtlbench.stats.store import Cell


@dataclass(frozen=True)
class Settings:
    """How a leaderboard is tested; every field is stated in the caption."""

    baseline: str = "ls"
    alpha: float = 0.05
    correction: str = "holm"
    """"holm" (family-wise) or "bh" (Benjamini-Hochberg false discovery rate)."""
    resamples: int = 10_000
    """Enough for Holm over a 7- or 10-metric table of 18 methods to reach alpha 0.05 (p >= 2 / (B + 1))."""
    seed: int = 0
    test: str = "bootstrap"
    """"bootstrap" (two-level paired) or "seeds" (Welch t-test on per-seed values)."""


@dataclass
class CellResult:
    """Everything a table of one cell shows."""

    title: str
    metrics: list[MetricDef]
    methods: list[str]
    seeds: dict[str, int]
    mean: np.ndarray
    std: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_baseline: np.ndarray
    """[M, K] corrected p-values against the baseline (NaN for the baseline itself)."""
    significant: np.ndarray
    best_tied: np.ndarray
    """[M, K] True where a method is not significantly worse than the best one."""
    second: np.ndarray
    n_examples: int
    labeler: str = ""
    uncertain: str = ""
    tuning: str = "none (defaults)"
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _read_examples(path: Path) -> list[dict[str, Any]]:
    with open(path / EXAMPLES, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _correct(p: np.ndarray, method: str) -> np.ndarray:
    """Holm (family-wise) or Benjamini-Hochberg (false discovery rate) over every finite p."""
    if method != "bh":
        return holm(p)
    flat = p.reshape(-1)
    out = np.full_like(flat, np.nan)
    finite = ~np.isnan(flat)
    if finite.any():
        out[finite] = false_discovery_control(flat[finite], method="bh")
    return out.reshape(p.shape)


def analyse_cell(cell: Cell, settings: Settings) -> CellResult | None:
    """The statistics of one cell, or None when no method has a finished run."""
    problems = [f"failed: {r.method} seed {r.seed} ({r.reason or 'no reason recorded'})" for r in cell.failed()]
    problems += [f"not finished: {r.method} seed {r.seed} ({r.state})" for r in cell.unfinished()]
    methods = [m for m in cell.methods if cell.done(m)]
    if not methods:
        return None
    refs = {m: cell.done(m) for m in methods}
    spec = read_json(refs[methods[0]][0].path / CONFIG)["spec"]
    uncertain = spec.get("eval", {}).get("uncertain", "positive")
    rows = {m: [_read_examples(r.path) for r in refs[m]] for m in methods}
    common = set.intersection(*({row["id"] for row in run} for runs in rows.values() for run in runs))
    order = sorted(common)
    if len(order) == 0:
        return None
    aligned = {m: [[{row["id"]: row for row in run}[i] for i in order] for run in rows[m]] for m in methods}
    wanted = {b for key in METRIC_DEFS for d in variants(key) for b in d.blocks}
    blocks = {m: [build_blocks(run, uncertain, wanted) for run in aligned[m]] for m in methods}
    defs: list[MetricDef] = []
    notes: list[str] = []
    for key in METRIC_DEFS:
        for definition in variants(key):
            if all(all(b in built for b in definition.blocks) for runs in blocks.values() for built in runs):
                defs.append(definition)
                if definition.note:
                    notes.append(definition.note)
                break
    layout = Layout(tuple(dict.fromkeys(b for d in defs for b in d.blocks)))
    data = [MethodData(m, tuple(layout.assemble(built, len(order)) for built in blocks[m])) for m in methods]
    result = paired_bootstrap(
        layout, defs, data, resamples=settings.resamples, rng=np.random.default_rng(settings.seed)
    )
    sign = np.array([d.sign for d in defs])
    std = np.stack([v.std(axis=0, ddof=1) if len(v) > 1 else np.full(len(defs), np.nan) for v in result.per_seed])
    low, high = percentile_interval(result.samples)
    p = np.full(result.point.shape, np.nan)
    if settings.baseline in methods:
        b = methods.index(settings.baseline)
        for j in range(len(methods)):
            if j != b:
                p[j] = _p_value(result, j, b, settings)
    else:
        problems.append(f"baseline {settings.baseline!r} has no finished run here: no comparisons")
    corrected = np.full_like(p, np.nan)
    for group in dict.fromkeys(d.group for d in defs):  # one family per table (NLG, CE)
        columns = [k for k, d in enumerate(defs) if d.group == group]
        corrected[:, columns] = _correct(p[:, columns], settings.correction)
    significant = corrected < settings.alpha
    oriented = result.point * sign
    best = oriented.argmax(axis=0)
    tied = np.zeros(result.point.shape, bool)
    for k in range(len(defs)):
        diff = (result.samples[:, best[k], k][:, None] - result.samples[:, :, k]) * sign[k]
        p_best = two_sided_p(diff)
        tied[:, k] = p_best >= settings.alpha
        tied[best[k], k] = True
    ranks = np.argsort(-oriented, axis=0)
    second = np.zeros(result.point.shape, bool)
    if len(methods) > 1:
        second[ranks[1], np.arange(len(defs))] = True
    seeds = {m: len(refs[m]) for m in methods}
    most = max(seeds.values())
    problems += [f"{m} has {s} of {most} seeds" for m, s in seeds.items() if s < most]
    problems += [f"{len(cell.missing())} (method, seed) runs never started"] if cell.missing() else []
    metrics = read_json(refs[methods[0]][0].path / METRICS)
    tuning = metrics.get("tuning", {})
    return CellResult(
        title=cell.key.title,
        metrics=defs,
        methods=methods,
        seeds=seeds,
        mean=result.point,
        std=std,
        ci_low=low,
        ci_high=high,
        p_baseline=corrected,
        significant=significant,
        best_tied=tied,
        second=second & ~tied,
        n_examples=len(order),
        labeler=metrics.get("eval", {}).get("labeler_description", spec.get("eval", {}).get("labeler", "")),
        uncertain=uncertain,
        tuning=f"{tuning['trials']} trials per method" if tuning.get("trials") else "none (defaults)",
        notes=notes,
        problems=problems,
    )


def _p_value(result: Any, j: int, b: int, settings: Settings) -> np.ndarray:
    if settings.test == "seeds":
        from scipy.stats import ttest_ind

        a, c = result.per_seed[j], result.per_seed[b]
        if len(a) < 2 or len(c) < 2:
            return np.full(a.shape[1], np.nan)
        return ttest_ind(a, c, equal_var=False, axis=0).pvalue
    return two_sided_p(result.samples[:, j] - result.samples[:, b])


def analyse(cells: Sequence[Cell], settings: Settings) -> list[CellResult]:
    out = []
    for cell in cells:
        result = analyse_cell(cell, settings)
        if result is not None:
            out.append(result)
    return out
