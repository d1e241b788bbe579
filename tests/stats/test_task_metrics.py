"""The trained tasks in the leaderboard: the cls head's metrics, and Delta_m% averaged over tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from storefakes import example_rows, write_run

from mtlbench.runner.spec import RunSpec
from mtlbench.stats import Settings, render_leaderboard
from mtlbench.stats.cells import analyse
from mtlbench.stats.store import scan

FAST = Settings(resamples=200)


def with_cls(rows: list[dict], rng: np.random.Generator, quality: float) -> list[dict]:
    """The rows with cls head outputs whose separation grows with ``quality``."""
    out = []
    for row in rows:
        targets = [float(rng.random() < 0.3) for _ in range(14)]
        logits = [(2 * t - 1) * 3 * quality + rng.normal(0, 1) for t in targets]
        out.append(row | {"cls_targets": targets, "cls_probs": [float(1 / (1 + np.exp(-x))) for x in logits]})
    return out


def fill(root: Path, qualities: dict[str, tuple[float, float]], *, cls: bool = True, seeds: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for method, (report, classification) in qualities.items():
        for seed in range(seeds):
            rows = example_rows(rng, 60, report)
            write_run(
                root,
                RunSpec(method=method, dataset="synthetic", seed=seed),
                with_cls(rows, rng, classification) if cls else rows,
            )
    return root


def _hand_delta_m(result, method: int, base: int, tasks: dict[str, list[str]]) -> float:
    per_task = []
    for keys in tasks.values():
        rel = [
            (result.mean[method, result.index(k)] - result.mean[base, result.index(k)])
            / abs(result.mean[base, result.index(k)])
            for k in keys
        ]
        per_task.append(np.mean(rel))
    return 100 * float(np.mean(per_task))


REPORT_KEYS = ["BLEU_4", "METEOR", "ROUGE_L", "CIDEr", "CE_F1_micro", "CE_F1_macro", "CE_F1_example"]
CLS_KEYS = ["CLS_AUROC_micro", "CLS_AUROC_macro", "CLS_F1_micro", "CLS_F1_macro"]


def test_delta_m_averages_over_the_trained_tasks(tmp_path: Path) -> None:
    store = fill(tmp_path, {"ls": (0.5, 0.5), "pcgrad": (0.45, 0.9)})
    (result,), _ = analyse(scan(store), FAST)
    assert {d.key for d in result.metrics} >= set(CLS_KEYS)
    expected = _hand_delta_m(result, 1, 0, {"report": REPORT_KEYS, "cls": CLS_KEYS})
    assert result.delta_m[1] == pytest.approx(expected, rel=1e-9)
    # the old grouping (NLG and CE as two "tasks", cls as a third) gives another number
    nlg, ce = REPORT_KEYS[:4], REPORT_KEYS[4:]
    assert result.delta_m[1] != pytest.approx(_hand_delta_m(result, 1, 0, {"nlg": nlg, "ce": ce, "cls": CLS_KEYS}))
    text = render_leaderboard(store, resamples=200)
    assert "cls task (the classification head's own test metrics" in text and "AUROC-mac" in text
    assert "mean over the trained tasks (report, cls)" in text


def test_runs_without_the_cls_outputs_are_read_and_say_so(tmp_path: Path) -> None:
    store = fill(tmp_path, {"ls": (0.5, 0.5), "pcgrad": (0.7, 0.5)}, cls=False)
    (result,), _ = analyse(scan(store), FAST)
    assert not any(d.group == "CLS" for d in result.metrics)
    assert result.delta_m[1] == pytest.approx(_hand_delta_m(result, 1, 0, {"report": REPORT_KEYS}), rel=1e-9)
    assert any("Delta_m% covers the tasks reported here only" in note for note in result.notes)


def _stl_runs(root: Path, seeds: range, rng: np.random.Generator, *, cls_seeds: range | None = None) -> None:
    """Single-task runs: the report-only model's rows have no cls outputs, the cls-only model's nothing else."""
    for seed in seeds:
        rows = with_cls(example_rows(rng, 60, 0.55), rng, 1.0)
        report = [{k: v for k, v in row.items() if not k.startswith("cls_")} for row in rows]
        write_run(
            root, RunSpec(method="stl", dataset="synthetic", seed=seed, method_params=(("task", "report"),)), report
        )
        if seed in (cls_seeds if cls_seeds is not None else seeds):
            head = [{"id": row["id"], "cls_probs": row["cls_probs"], "cls_targets": row["cls_targets"]} for row in rows]
            write_run(
                root, RunSpec(method="stl", dataset="synthetic", seed=seed, method_params=(("task", "cls"),)), head
            )


def test_single_task_runs_form_one_row_and_serve_as_the_reference(tmp_path: Path) -> None:
    store = fill(tmp_path, {"ls": (0.5, 0.5), "pcgrad": (0.45, 0.9)})
    _stl_runs(store, range(2), np.random.default_rng(5))
    (result,), _ = analyse(scan(store), Settings(resamples=200, reference="stl"))
    assert result.methods == ["ls", "pcgrad", "stl"] and result.seeds["stl"] == 2
    assert {d.key for d in result.metrics} >= set(CLS_KEYS)  # the joined row has both tasks' statistics
    tasks = {"report": REPORT_KEYS, "cls": CLS_KEYS}
    assert result.delta_ref[1] == pytest.approx(_hand_delta_m(result, 1, 2, tasks), rel=1e-9)
    assert result.delta_ref[0] == pytest.approx(_hand_delta_m(result, 0, 2, tasks), rel=1e-9)
    assert result.delta_ref_low[1] < result.delta_ref[1] < result.delta_ref_high[1] and np.isnan(result.delta_ref[2])
    assert result.delta_m[1] == pytest.approx(_hand_delta_m(result, 1, 0, tasks), rel=1e-9)  # still against ls
    text = render_leaderboard(store, resamples=200, reference="stl")
    assert "Δm% vs ls ↑" in text and "Δm% vs stl ↑" in text and "0 (reference)" in text
    assert "the single-task models: each task's metrics from the model trained on that task alone" in text
    assert "--reference stl" in text
    rows = [
        line.split(",") for line in render_leaderboard(store, resamples=200, reference="stl", fmt="csv").splitlines()
    ]
    versus = [row for row in rows if row[4] == "delta_m_percent_vs_stl"]
    assert [row[2] for row in versus] == ["ls", "pcgrad", "stl"] and float(versus[1][6]) == pytest.approx(
        result.delta_ref[1], rel=1e-4
    )


def test_a_seed_without_every_single_task_run_is_left_out_and_said(tmp_path: Path) -> None:
    store = fill(tmp_path, {"ls": (0.5, 0.5)})
    _stl_runs(store, range(2), np.random.default_rng(6), cls_seeds=range(1))
    (result,), _ = analyse(scan(store), FAST)
    assert result.seeds["stl"] == 1
    assert any("stl seed 1 lacks its single-task run of cls" in p for p in result.problems)
