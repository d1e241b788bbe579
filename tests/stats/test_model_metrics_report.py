"""The model-based metrics (BERTScore, SembScore, RadGraph F1, RadCliQ-v1) in `mtlbench report`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from storefakes import example_rows, write_run

from mtlbench.runner.spec import RunSpec
from mtlbench.stats import Settings, render_leaderboard
from mtlbench.stats.cells import analyse
from mtlbench.stats.store import scan


def _with_model_stats(rows: list[dict], rng: np.random.Generator, quality: float) -> list[dict]:
    for row in rows:
        semb = float(np.clip(rng.normal(quality, 0.1), -1, 1))
        rewards = [float(np.clip(rng.normal(quality * f, 0.1), 0, 1)) for f in (1.0, 0.9, 0.8)]
        row["stats"] |= {
            "bertscore": float(rng.normal(quality, 0.1)),
            "bertscore_radcliq": float(rng.normal(quality, 0.1)),
            "semb": semb,
            "radgraph": rewards,
            "radgraph_combined": rewards[1],
            "radcliq_v1": float(-2 * quality + rng.normal(0, 0.2)),
        }
    return rows


def _store(root: Path, qualities: dict[str, float], *, model_stats: bool = True) -> Path:
    rng = np.random.default_rng(3)
    for method, quality in qualities.items():
        for seed in range(3):
            rows = example_rows(rng, 120, quality)
            rows = _with_model_stats(rows, rng, quality) if model_stats else rows
            write_run(root, RunSpec(method=method, dataset="synthetic", seed=seed), rows)
    return root


def test_new_metrics_get_intervals_tests_and_their_direction(tmp_path: Path) -> None:
    store = _store(tmp_path / "store", {"ls": 0.4, "pcgrad": 0.6})
    (result,), _ = analyse(scan(store), Settings(resamples=600))
    keys = [d.key for d in result.metrics]
    for key in ("BERTScore", "SembScore", "F1RadGraph_partial", "RadGraph_combined", "RadCliQ_v1"):
        assert key in keys
    better = result.methods.index("pcgrad")
    for key in ("BERTScore", "F1RadGraph_complete", "RadCliQ_v1"):
        k = result.index(key)
        assert result.significant[better, k], key  # a clear difference is found...
        assert result.best_tied[better, k], key  # ...in the right direction, RadCliQ-v1 being lower-is-better
        assert result.ci_low[better, k] < result.mean[better, k] < result.ci_high[better, k]
    k = result.index("RadCliQ_v1")
    assert result.metrics[k].arrow == "↓" and result.mean[better, k] < result.mean[0, k]
    assert any("RadCliQ-v1 is the mean per-report score" in note for note in result.notes)
    text = render_leaderboard(store, resamples=200)
    assert "model-based metrics (BERTScore, SembScore, RadGraph F1, RadCliQ-v1)" in text and "RadCliQ-v1 ↓" in text


def test_a_store_without_them_has_no_note_about_them(tmp_path: Path) -> None:
    store = _store(tmp_path / "store", {"ls": 0.4, "pcgrad": 0.6}, model_stats=False)
    (result,), _ = analyse(scan(store), Settings(resamples=200))
    assert "BERTScore" not in [d.key for d in result.metrics]
    assert not any("BERTScore" in note or "SembScore" in note for note in result.notes)
