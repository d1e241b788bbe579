"""`mtlbench show RUN_ID`: one run's configuration, curves, diagnostics and best and worst examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner
from storefakes import example_rows, write_run, write_train_log

from mtlbench.cli import cli
from mtlbench.runner.spec import RunSpec


def _store(tmp_path: Path) -> tuple[Path, RunSpec, list[dict]]:
    spec = RunSpec(method="pcgrad", dataset="synthetic", seed=4)
    rows = example_rows(np.random.default_rng(0), 12, 0.6)
    for i, row in enumerate(rows):
        row["stats"]["cider"] = float(i)  # example s0011 scores best, s0000 worst
        row["generated"], row["reference"] = f"generated report {i}", f"reference report {i}"
    rows[11]["labels_generated"] = [None] * 14
    rows[11]["labels_generated"][1] = -1.0  # Cardiomegaly, uncertain
    metrics = {"best_epoch": 1, "test": {"BLEU_4": 0.125}, "diagnostics": {"conflict_share": 0.25}}
    folder = write_run(tmp_path, spec, rows, metrics=metrics)
    write_train_log(folder, epochs=3, steps_per_epoch=2, level=0.5)
    write_run(tmp_path, RunSpec(method="ls", dataset="synthetic", seed=0), [], state="failed", reason="oom")
    return tmp_path, spec, rows


def test_show_prints_the_runs_config_curves_diagnostics_and_best_and_worst_examples(tmp_path: Path) -> None:
    results, spec, _ = _store(tmp_path)
    result = CliRunner().invoke(cli, ["show", spec.run_id[:6], "--results", str(results), "--examples", "2"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith(f"run {spec.run_id}: pcgrad seed 4 on synthetic / transformer-tiny, tasks report+cls")
    assert "train.lr=0.001" in text and "diagnostics" in text and "conflict_share 0.25" in text
    assert "BLEU_4 12.5" in text  # test figures x100
    curves = [line.split() for line in text.splitlines() if line[:1].isdigit()]
    assert [row[:2] for row in curves] == [["1", "3"], ["2", "*"], ["3", "3"]]  # the chosen epoch is marked
    assert [row[-4] for row in curves] == ["0.1667", "0.3333", "0.5"]  # validation BLEU-4 of each epoch
    best = text.index("best 2 test examples by CIDEr-D")
    worst = text.index("worst 2")
    assert best < text.index("s0011  CIDEr-D 11.000") < text.index("s0010") < worst < text.index("s0000  CIDEr-D 0.000")
    assert "generated: generated report 11" in text and "| reference: reference report 11" in text
    assert "labels: Cardiomegaly?" in text


def test_show_names_a_missing_or_ambiguous_run_in_one_line(tmp_path: Path) -> None:
    results, _, _ = _store(tmp_path)
    missing = CliRunner().invoke(cli, ["show", "zzzz", "--results", str(results)])
    assert missing.exit_code == 1 and "no run id in" in missing.output and "starts with 'zzzz'" in missing.output
    ambiguous = CliRunner().invoke(cli, ["show", "", "--results", str(results)])
    assert ambiguous.exit_code == 1 and "give a run id" in ambiguous.output
    failed = CliRunner().invoke(cli, ["show", RunSpec(method="ls", dataset="synthetic", seed=0).run_id, "--results",
                                      str(results)])  # fmt: skip
    assert (
        failed.exit_code == 0
        and "state failed: oom" in failed.output
        and "curves: no epoch finished yet" in (failed.output)
    )
