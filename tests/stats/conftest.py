"""Fabricated result stores with controlled per-example statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtlbench.results import atomic_write_json, atomic_write_jsonl, run_dir
from mtlbench.runner.spec import RunSpec


def write_run(root: Path, spec: RunSpec, rows: list[dict], *, state: str = "done", reason: str = "") -> None:
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
            },
        )
    atomic_write_json(folder / "status.json", {"state": state, "reason": reason})


def example_rows(rng: np.random.Generator, n: int, quality: float) -> list[dict]:
    """Rows whose BLEU comps, ROUGE-L, CIDEr and labels improve with ``quality`` (0..1)."""
    rows = []
    for i in range(n):
        testlen = int(rng.integers(8, 20))
        reflen = int(rng.integers(8, 20))
        guess = [max(testlen - j, 0) for j in range(4)]
        correct = [int(rng.binomial(g, min(0.95, quality * 0.8**j))) for j, g in enumerate(guess)]
        reference = [float(rng.random() < 0.3) for _ in range(14)]
        generated = [r if rng.random() < quality else 1.0 - r for r in reference]
        rows.append(
            {
                "id": f"s{i}",
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


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """ls and pcgrad (3 seeds each, pcgrad clearly better), a weak method, and a failed run."""
    rng = np.random.default_rng(0)
    for method, quality in (("ls", 0.5), ("pcgrad", 0.7), ("mgda", 0.45)):
        for seed in range(3):
            spec = RunSpec(method=method, dataset="synthetic", seed=seed)
            write_run(tmp_path, spec, example_rows(rng, 150, quality + rng.normal(0, 0.01)))
    write_run(
        tmp_path, RunSpec(method="mgda", dataset="synthetic", seed=3), [], state="failed", reason="diverged: loss nan"
    )
    return tmp_path
