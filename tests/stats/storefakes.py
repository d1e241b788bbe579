"""Fabricated result stores with controlled per-example statistics (helpers shared by the stats tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mtlbench.results import atomic_write_json, atomic_write_jsonl, run_dir
from mtlbench.runner.spec import RunSpec


def write_run(
    root: Path,
    spec: RunSpec,
    rows: list[dict],
    *,
    state: str = "done",
    reason: str = "",
    metrics: dict | None = None,
) -> Path:
    folder = run_dir(root, spec.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "config.json", {"run_id": spec.run_id, "spec": spec.to_dict()})
    if state == "done":
        atomic_write_jsonl(folder / "examples.jsonl", rows)
        atomic_write_json(
            folder / "metrics.json",
            {
                "test": {},
                "eval": {"labeler": "rules", "labeler_description": "rule test labeler", "uncertain": "positive"},
            }
            | (metrics or {}),
        )
    atomic_write_json(folder / "status.json", {"state": state, "reason": reason})
    return folder


def example_rows(rng: np.random.Generator, n: int, quality: float, *, first_id: int = 0) -> list[dict]:
    """Rows whose BLEU comps, ROUGE-L, CIDEr and labels improve with ``quality`` (0..1)."""
    rows = []
    for i in range(first_id, first_id + n):
        testlen = int(rng.integers(8, 20))
        reflen = int(rng.integers(8, 20))
        guess = [max(testlen - j, 0) for j in range(4)]
        correct = [int(rng.binomial(g, min(0.95, quality * 0.8**j))) for j, g in enumerate(guess)]
        reference = [float(rng.random() < 0.3) for _ in range(14)]
        generated = [r if rng.random() < quality else 1.0 - r for r in reference]
        rows.append(
            {
                "id": f"s{i:04d}",
                "generated": "x",
                "reference": "y",
                "labels_generated": generated,
                "labels_reference": reference,
                "stats": {
                    "bleu": {"testlen": testlen, "reflen": reflen, "guess": guess, "correct": correct},
                    "rouge_l": float(np.clip(rng.normal(quality, 0.1), 0, 1)),
                    "cider": float(max(rng.normal(quality, 0.2), 0)),
                    "meteor": float(np.clip(rng.normal(quality / 2, 0.05), 0, 1)),
                },
            }
        )
    return rows


def fill_store(root: Path, qualities: dict[str, float], *, seeds: int = 3, n: int = 150, dataset: str = "synthetic",
               rng_seed: int = 0) -> Path:  # fmt: skip
    """One done run per (method, seed) with the given mean quality per method."""
    rng = np.random.default_rng(rng_seed)
    for method, quality in qualities.items():
        for seed in range(seeds):
            spec = RunSpec(method=method, dataset=dataset, seed=seed)
            write_run(root, spec, example_rows(rng, n, quality + rng.normal(0, 0.01)))
    return root


def write_train_log(folder: Path, *, epochs: int, steps_per_epoch: int, level: float, weights: bool = True) -> None:
    """A training log shaped like the engine's: a step line per step (losses, weights, cosines,
    norms), an epoch line per epoch (train losses, validation figures); values depend on ``level``."""
    lines = []
    step = 0
    for epoch in range(epochs):
        for _ in range(steps_per_epoch):
            entry = {
                "kind": "step",
                "epoch": epoch,
                "step": step,
                "losses": {"report": 4.0 - level * step / 10, "cls": 0.6},
                "grad_norms": {"report": 1.0, "cls": 0.5},
                "cosines": {"report|cls": level - 0.5},
            }
            if weights:
                entry["weights"] = {"report": 1.0, "cls": level}
            lines.append(entry)
            step += 1
        val = {"loss": 4.0 - level * epoch, "BLEU_4": level * (epoch + 1) / epochs}
        lines.append({"kind": "epoch", "epoch": epoch, "train_loss": {"report": 3.0, "cls": 0.5}, "val": val})
    (folder / "train_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
