"""CAME-Grad's ablation, recorded: what each stage and each reading of the paper does to training and results.

Runs nothing itself: the grid is ``baselines/came_grad_ablation.toml`` (resumable), run first with

    mtlbench run baselines/came_grad_ablation.toml --results results/came_ablation --no-leaderboard

then this script records, per row of the ablation (mean over its finished seeds), the stages' own
diagnostics from the training logs (S1's turn of the direction, S2's gain, S3's fusion weight, the
update's norm against linear scalarization's, the share of conflicting steps) and the leaderboard of
the store against the paper's reading (``--baseline came-grad``):

    python benchmarks/came_grad_ablation.py --results results/came_ablation --out benchmarks/came_grad_ablation.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
from recording import load_average, machine, publish

from mtlbench.results import DONE, TRAIN_LOG, iter_runs
from mtlbench.runner.grid import expand
from mtlbench.runner.gridfile import grid_from_settings, load_grid_file
from mtlbench.stats import render_leaderboard
from mtlbench.stats.store import method_label

GRID = Path(__file__).resolve().parents[1] / "baselines" / "came_grad_ablation.toml"
DIAGNOSTICS = (
    ("s1_cos_ls", "cos(d, g_LS)", "how far S1 turned the direction away from ls's"),
    ("gain", "S2 gain", "the factor S2 applied (1: S2 off)"),
    ("nu_t", "S3 nu_t", "S3's weight of g_LS in the update (0: S3 off)"),
    ("norm_ratio", "norm out/LS", "the update's norm against ls's with the same task weights"),
    ("conflict", "conflict share", "steps with cos(h_report, h_cls) < 0"),
)
METRICS = ("BLEU_4", "METEOR", "CIDEr", "CE_F1_micro", "CE_F1_macro", "CLS_AUROC_macro", "CLS_F1_macro")
"""Test figures per row; the cls task's only where the runs scored it (code after 5a203d7)."""


def _step_means(folder: Path) -> dict[str, float]:
    """Means over a run's training steps of the stages' diagnostics."""
    sums: dict[str, list[float]] = defaultdict(list)
    for line in (folder / TRAIN_LOG).read_text().splitlines():
        entry = json.loads(line)
        info = entry.get("info") if entry.get("kind") == "step" else None
        if not info:
            continue
        for key in ("s1_cos_ls", "gain", "nu_t", "conflict"):
            sums[key].append(float(info[key]))
        if info.get("ls_norm"):
            sums["norm_ratio"].append(float(info["out_norm"]) / float(info["ls_norm"]))
    return {key: float(np.mean(values)) for key, values in sums.items()}


def _rows(results: Path) -> tuple[list[str], dict[str, list[dict[str, float]]], int, int]:
    """The grid's rows in its file's order, each row's finished runs' figures, and the run counts."""
    specs = expand(grid_from_settings(load_grid_file(GRID)))
    order = list(dict.fromkeys(method_label(spec.to_dict()) for spec in specs))
    by_label: dict[str, list[dict[str, float]]] = defaultdict(list)
    done = 0
    for run in iter_runs(results):
        label = method_label(run.spec)
        if run.state != DONE or label not in order:
            continue
        done += 1
        test = run.metrics()["test"]
        figures = _step_means(run.path) | {k: float(test[k]) for k in METRICS if k in test}
        by_label[label].append(figures)
    return order, by_label, done, len(specs)


def _fmt(values: list[float], scale: float = 1.0) -> str:
    if not values:
        return "-"
    mean = float(np.mean(values)) * scale
    return f"{mean:.3f}" if scale == 1.0 else f"{mean:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/came_ablation"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()
    before = load_average()
    order, by_label, done, expected = _rows(args.results)
    header = ["row", "seeds", *(d[1] for d in DIAGNOSTICS), *(f"{m} x100" for m in METRICS)]
    lines = [
        "# CAME-Grad ablation: stages on/off and the paper's ambiguous readings",
        "",
        f"Grid: `{GRID.relative_to(GRID.parents[1])}` (default training settings on the synthetic set, 3 seeds).",
        f"Commands: `mtlbench run baselines/came_grad_ablation.toml --results {args.results} --no-leaderboard`,",
        f"then `python benchmarks/came_grad_ablation.py --results {args.results} --out {args.out}`.",
        f"Machine: {machine()}; load average (1/5/15 min) before: {before}.",
        f"Finished runs: {done} of the grid's {expected}.",
        "",
        "## What each stage and reading does during training (means over steps, then over seeds)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for label in order:
        runs = by_label.get(label, [])
        cells = [label, str(len(runs))]
        cells += [_fmt([r[key] for r in runs if key in r]) for key, _, _ in DIAGNOSTICS]
        cells += [_fmt([r[m] for r in runs if m in r], 100.0) for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *(f"- {label}: {meaning}." for _, label, meaning in DIAGNOSTICS), ""]
    board = render_leaderboard(args.results, fmt="markdown", baseline="came-grad", resamples=args.resamples)
    lines += ["## Leaderboard of the ablation store (against the paper's reading, `came-grad`)", ""]
    lines += [line.replace("# ", "### ", 1) if line.startswith("# ") else line for line in board.splitlines()]
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    lines += ["", f"Load average after: {load_average()} (`uptime`: {uptime})."]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
