"""Calibration of `mtlbench report`'s default test on the cls task's metrics (AUROC, F1), by simulation.

The cls head's AUROC enters the crossed-design t-test through DeLong's linearisation (per-example
placement values; :func:`mtlbench.stats.features.auc_columns`), its F1 through summed TP/FP/FN. This
checks that the test keeps its level on them under the null, with mtlbench's own statistics API
(paired_bootstrap, components.estimate, crossed_t), in regimes chosen to be hard, not flattering.

Each replicate fabricates one cell: two methods with the SAME distribution (the null), S seeds each,
n test examples, 14 findings with prevalences drawn from [0.03, 0.4] (rare findings included).
The head's logit for example i, finding l, method m, seed s:

    logit = (sep + seed_sep[m, s]) (2 y - 1) + difficulty[i, l] + interaction[m, i, l] + noise[m, s, i, l] - 1

so a seed moves the separation (what AUROC measures), the interaction makes the methods differ
per example (shared by their seeds), the noise is each run's own. Regimes (REGIMES): seed-dominated,
example-dominated, run-noise only, and heavy-tailed seeds (Student t with 3 df).

Run:  .venv/bin/python benchmarks/stats_cls_calibration.py --out benchmarks/stats_cls_calibration.md
"""

from __future__ import annotations

import argparse
import math
import subprocess
import time
from pathlib import Path

import numpy as np
from recording import load_average, machine, publish
from stats_calibration import Regime  # the same description of a variance regime

from mtlbench.stats.bootstrap import MethodData, paired_bootstrap
from mtlbench.stats.catalogue import METRICS
from mtlbench.stats.components import difference, estimate
from mtlbench.stats.crossed import crossed_t
from mtlbench.stats.features import N_LABELS, Layout, build_block

ALPHA = 0.05
KEYS = ("CLS_AUROC_micro", "CLS_AUROC_macro", "CLS_F1_micro", "CLS_F1_macro")
DEFS = [METRICS[k] for k in KEYS]
LAYOUT = Layout(("cls_auc_micro", "cls_auc_label", "cls_label"))


REGIMES = {
    "seed-dominated": Regime(seed_sd=0.3, interaction_sd=0.2, noise_sd=0.3),
    "example-dominated": Regime(seed_sd=0.0, interaction_sd=0.8, noise_sd=0.3),
    "run-noise": Regime(seed_sd=0.0, interaction_sd=0.0, noise_sd=1.0),
    "heavy-tailed seeds": Regime(seed_sd=0.3, interaction_sd=0.2, noise_sd=0.3, heavy_tails=True),
}


def simulate(rng: np.random.Generator, regime: Regime, seeds: int, n: int) -> list[MethodData]:
    prevalence = rng.uniform(0.03, 0.4, N_LABELS)
    targets = (rng.random((n, N_LABELS)) < prevalence).astype(float)
    difficulty = rng.normal(0.0, 1.0, (n, N_LABELS))
    methods = []
    for m in range(2):
        interaction = rng.normal(0.0, regime.interaction_sd, (n, N_LABELS))
        if regime.heavy_tails:
            offsets = regime.seed_sd * rng.standard_t(3, seeds) / math.sqrt(3.0)
        else:
            offsets = rng.normal(0.0, regime.seed_sd, seeds) if regime.seed_sd > 0 else np.zeros(seeds)
        runs = []
        for s in range(seeds):
            noise = rng.normal(0.0, regime.noise_sd, (n, N_LABELS))
            logit = (1.0 + offsets[s]) * (2 * targets - 1) + difficulty + interaction + noise - 1.0
            probs = 1.0 / (1.0 + np.exp(-logit))
            rows = [{"cls_probs": list(p), "cls_targets": list(t)} for p, t in zip(probs, targets, strict=True)]
            runs.append(np.concatenate([build_block(b, rows, "positive") for b in LAYOUT.blocks], axis=1))
        methods.append(MethodData(str(m), tuple(runs), tuple(range(seeds))))
    return methods


def crossed_pvalues(methods: list[MethodData], resamples: int, rng: np.random.Generator) -> np.ndarray:
    boot = paired_bootstrap(LAYOUT, DEFS, methods, resamples=resamples, rng=rng, keep_runs=True)
    components = estimate(boot)
    k = len(DEFS)
    contrasts = np.array([difference(2, k, 1, 0, c) for c in range(k)])
    return crossed_t(components, contrasts, boot.point[1] - boot.point[0]).p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=300)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--n", type=int, default=120, help="test examples (the synthetic set's 120)")
    parser.add_argument("--seeds", default="3,5")
    parser.add_argument("--regimes", default=",".join(REGIMES), help="comma-separated names of REGIMES")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    before, started = load_average(), time.perf_counter()
    seed_counts = [int(s) for s in args.seeds.split(",")]
    header = ["regime", "seeds", *(f"{METRICS[k].label} rejection rate" for k in KEYS)]
    lines = [
        "# Calibration of the crossed-design t-test on the cls task's metrics (null: two equal methods)",
        "",
        f"Command: `python benchmarks/stats_cls_calibration.py --replicates {args.replicates} --resamples "
        f"{args.resamples} --n {args.n} --seeds {args.seeds} --regimes '{args.regimes}' --out {args.out}`.",
        f"Machine: {machine()}; load average (1/5/15 min) before: {before}.",
        f"Each cell: {args.replicates} replicates at alpha {ALPHA}, n = {args.n} test examples, {args.resamples} "
        "bootstrap resamples per replicate. Monte Carlo standard error of a rate near 0.05: "
        f"{math.sqrt(ALPHA * (1 - ALPHA) / args.replicates):.3f}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    rng = np.random.default_rng(2026)
    for name in args.regimes.split(","):
        regime = REGIMES[name]
        for seeds in seed_counts:
            rejections = np.zeros(len(KEYS))
            counted = np.zeros(len(KEYS))
            for _ in range(args.replicates):
                p = crossed_pvalues(simulate(rng, regime, seeds, args.n), args.resamples, rng)
                usable = np.isfinite(p)
                rejections += usable & (p < ALPHA)
                counted += usable
            rates = rejections / np.maximum(counted, 1)
            lines.append("| " + " | ".join([name, str(seeds), *(f"{r:.3f}" for r in rates)]) + " |")
            print(lines[-1], flush=True)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    lines += ["", f"Took {time.perf_counter() - started:.0f} s. Load average after: {load_average()} ({uptime})."]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
