"""Grouping the runs of a store into cells: what is compared inside a cell, what splits cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from storefakes import example_rows, write_run

from mtlbench.results import atomic_write_json, atomic_write_jsonl, run_dir
from mtlbench.runner.spec import RunSpec
from mtlbench.stats import Settings
from mtlbench.stats.cells import analyse
from mtlbench.stats.store import scan
from mtlbench.train.config import TrainConfig

FAST = Settings(resamples=200)


def test_tuned_runs_of_every_method_share_one_cell(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for method, lr, params in (("ls", 3e-4, {"weights": [1.0, 2.0]}), ("cagrad", 1e-3, {"c": 0.3})):
        for seed in range(2):
            spec = RunSpec.from_dict(
                RunSpec(method=method, dataset="synthetic", seed=seed, train=TrainConfig(lr=lr)).to_dict()
                | {"method_params": params, "tuning": {"budget": 4, "trial": 2}}
            )
            write_run(tmp_path, spec, example_rows(rng, 50, 0.5), metrics={"tuning": {"budget": 4, "trials": 4}})
    cells = scan(tmp_path)
    assert len(cells) == 1 and cells[0].methods == ("cagrad", "ls")
    (result,), _ = analyse(cells, FAST)
    assert "4 trials per method" in result.tuning


def test_runs_with_other_settings_form_their_own_cell_named_by_the_difference(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    for epochs in (1, 6):
        for method in ("ls", "pcgrad"):
            spec = RunSpec(method=method, dataset="synthetic", seed=0, train=TrainConfig(epochs=epochs))
            write_run(tmp_path, spec, example_rows(rng, 30, 0.5))
    titles = [c.key.title for c in scan(tmp_path)]
    assert titles == [
        "synthetic / transformer-tiny / tasks report+cls [train.epochs=1]",
        "synthetic / transformer-tiny / tasks report+cls [train.epochs=6]",
    ]


def test_a_spec_field_unknown_to_stats_still_splits_cells(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for beam in (None, 3):
        spec = RunSpec(method="ls", dataset="synthetic", seed=0).to_dict()
        if beam:
            spec["backbone_options"] = {"beam_size": beam}
        folder = run_dir(tmp_path, f"run{beam}")
        atomic_write_json(folder / "config.json", {"run_id": f"run{beam}", "spec": spec})
        atomic_write_jsonl(folder / "examples.jsonl", example_rows(rng, 20, 0.5))
        atomic_write_json(folder / "status.json", {"state": "done"})
    assert len(scan(tmp_path)) == 2


def test_duplicate_runs_of_a_method_and_seed_are_reported(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    spec = RunSpec(method="ls", dataset="synthetic", seed=0)
    write_run(tmp_path, spec, example_rows(rng, 20, 0.5))
    copy = run_dir(tmp_path, "zzzz")
    atomic_write_json(copy / "config.json", {"run_id": "zzzz", "spec": spec.to_dict()})
    atomic_write_jsonl(copy / "examples.jsonl", example_rows(rng, 20, 0.5))
    atomic_write_json(copy / "status.json", {"state": "done"})
    (result,), _ = analyse(scan(tmp_path), FAST)
    assert "2 finished runs of ls seed 0: only the first run id counts" in result.problems


def test_damaged_files_of_a_cell_are_named_and_the_rest_is_compared(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    folders = {
        (method, seed): write_run(tmp_path, RunSpec(method=method, dataset="synthetic", seed=seed),
                                  example_rows(rng, 40, 0.5))
        for method in ("ls", "pcgrad") for seed in range(3)
    }  # fmt: skip
    rows = (folders["pcgrad", 0] / "examples.jsonl").read_text().splitlines()
    rows[7] = rows[7].replace('"rouge_l": ', '"rouge_l": {"x": 1}, "was": ')  # statistics of the wrong shape
    (folders["pcgrad", 0] / "examples.jsonl").write_text("\n".join(rows) + "\n")
    (folders["pcgrad", 1] / "examples.jsonl").write_text('{"id": "s0000", "stats": []}\n')
    (folders["ls", 2] / "status.json").write_bytes(b'{"state": "do')
    (result,), _ = analyse(scan(tmp_path), FAST)
    problems = " ".join(result.problems)
    assert "unreadable: pcgrad seed 0" in problems and "the run folder is damaged: delete it" in problems
    assert "examples.jsonl: example 1 (id s0000): 'stats' must be an object" in problems
    assert "not finished: ls seed 2 (damaged)" in problems
    assert result.seeds == {"ls": 2, "pcgrad": 1}


def test_a_cell_whose_every_run_is_damaged_says_why(tmp_path: Path) -> None:
    rows = example_rows(np.random.default_rng(3), 10, 0.5)
    for row in rows:
        row["stats"]["rouge_l"] = {"not": "a number"}  # float() of it is a TypeError
    write_run(tmp_path, RunSpec(method="ls", dataset="iu_xray", seed=0), rows)
    results, skipped = analyse(scan(tmp_path), FAST)
    assert not results and len(skipped) == 1
    assert skipped[0].startswith("iu_xray / transformer-tiny / tasks report+cls: no finished run can be read (first: ")
