"""Single-task baselines and the tuned-weights row: how a grid expands them and what their runs hold."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mtlbench.errors import MtlbenchError
from mtlbench.methods import combine
from mtlbench.metrics.config import EvalConfig
from mtlbench.results import DONE, EXAMPLES, METRICS
from mtlbench.runner.grid import GridSpec, expand
from mtlbench.runner.gridfile import grid_from, grid_from_settings, load_grid_file
from mtlbench.runner.run_one import prepare, run_one
from mtlbench.runner.spec import RunSpec
from mtlbench.stats.store import method_label
from mtlbench.train.config import TrainConfig

DATA = (("n_test", 8), ("n_train", 24), ("n_val", 8))


def test_stl_is_one_run_per_task_each_training_that_task_alone() -> None:
    specs = expand(GridSpec(methods=("ls", "stl"), seeds=(0, 1), tasks=("report", "cls")))
    stl = [s for s in specs if s.method == "stl"]
    assert [(dict(s.method_params)["task"], s.seed) for s in stl] == [
        ("report", 0),
        ("report", 1),
        ("cls", 0),
        ("cls", 1),
    ]
    assert all(s.tasks == ("report", "cls") for s in stl)  # the cell they are the reference of
    assert [s.trained_tasks for s in stl[::2]] == [("report",), ("cls",)]
    assert [s.monitor for s in stl[::2]] == ["BLEU_4", "loss"]  # no report to score: selected on validation loss
    assert len({s.run_id for s in specs}) == len(specs) == 6
    assert [method_label(s.to_dict()) for s in stl[::2]] == ["stl(task=report)", "stl(task=cls)"]
    tuned = RunSpec("stl", "synthetic", 0, method_params=(("task", "cls"),), tuning=(("budget", 2), ("trial", 1)))
    assert method_label(tuned.to_dict()) == "stl(task=cls)"  # tuned runs keep the task that tells them apart
    with pytest.raises(MtlbenchError, match="not among the grid's tasks"):
        expand(GridSpec(methods=("stl",), tasks=("report", "cls"), method_variants={"stl": ({"task": "align"},)}))


def test_stl_weights_its_own_task_only() -> None:
    import torch

    g = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    torch.testing.assert_close(combine("stl", g, task="cls", task_names=["report", "cls"]), g[1])
    torch.testing.assert_close(combine("stl", g[:1]), g[0])
    with pytest.raises(MtlbenchError, match="stl trains one task"):
        combine("stl", g)


def test_ls_tuned_joins_every_tuned_grid_with_ls_and_is_refused_untuned() -> None:
    tuned = expand(GridSpec(methods=("ls", "pcgrad"), seeds=(0,), tune=2))
    assert [s.method for s in tuned] == ["ls", "ls-tuned", "pcgrad"]
    assert [s.method for s in expand(GridSpec(methods=("pcgrad",), seeds=(0,), tune=2))] == ["pcgrad"]
    assert "ls-tuned" not in {s.method for s in expand(GridSpec(methods=("all",), seeds=(0,)))}
    with pytest.raises(MtlbenchError, match="add --tune"):
        expand(GridSpec(methods=("ls-tuned",), seeds=(0,)))


def test_a_cls_only_run_trains_and_scores_its_head_and_a_report_only_model_has_no_head(tmp_path: Path) -> None:
    spec = RunSpec(
        method="stl",
        dataset="synthetic",
        seed=0,
        method_params=(("task", "cls"),),
        data_options=DATA,
        train=TrainConfig(epochs=1, image_size=32, batch_size=8),
        eval=EvalConfig(meteor=False),
    )
    assert run_one(spec, tmp_path) == DONE
    folder = tmp_path / "runs" / spec.run_id
    rows = [json.loads(line) for line in (folder / EXAMPLES).read_text().splitlines()]
    metrics = json.loads((folder / METRICS).read_text())
    assert len(rows) == 8 and set(rows[0]) == {"id", "cls_probs", "cls_targets"} and len(rows[0]["cls_probs"]) == 14
    assert set(metrics["test"]) == {"CLS_AUROC_micro", "CLS_AUROC_macro", "CLS_F1_micro", "CLS_F1_macro"}
    assert "BLEU_4" not in metrics["val"] and "loss" in metrics["val"]  # selected on its validation loss
    report_only = prepare(replace(spec, method_params=(("task", "report"),)), None).model
    assert report_only.tasks == ("report",) and set(report_only.heads) == {"report"}  # the plain report generator


def test_variant_blocks_of_a_grid_file_are_rows_in_their_order(tmp_path: Path) -> None:
    ablation = Path(__file__).resolve().parents[2] / "baselines" / "came_grad_ablation.toml"
    specs = expand(grid_from_settings(load_grid_file(ablation)))
    rows = list(dict.fromkeys(method_label(s.to_dict()) for s in specs))
    assert len(specs) == 24 and rows[:4] == [
        "came-grad",
        "came-grad(nu_schedule=continuous)",
        "came-grad(n_ref=pre)",
        "came-grad(injection=fluctuation)",
    ]
    assert rows[-1] == "came-grad(fuse=False,inject=False,rectify=False)"
    bad = tmp_path / "bad.toml"
    bad.write_text('methods = ["came-grad"]\n[variants]\ncame-grad = {fuse = false}\n')
    with pytest.raises(MtlbenchError, match=r"variants.came-grad must be a list of tables"):
        load_grid_file(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text('methods = ["came-grad"]\n[[variants.came-grad]]\nfusion = "smooth"\n')
    with pytest.raises(MtlbenchError, match="came-grad has no hyper-parameter 'fusion'"):
        load_grid_file(typo)


def test_a_param_that_variant_rows_set_is_refused_and_others_apply_to_every_row() -> None:
    ablation = Path(__file__).resolve().parents[2] / "baselines" / "came_grad_ablation.toml"
    with pytest.raises(MtlbenchError, match=r"\[\[variants.came-grad\]\] rows set 'fuse' themselves"):
        grid_from(ablation, {"param": ("came-grad.fuse=true",)})
    grid = grid_from(ablation, {"param": ("came-grad.rho=0.3",)})
    rows = grid.method_variants["came-grad"]
    assert len(rows) == 8 and all(row["rho"] == 0.3 for row in rows)  # on top of every row, never dropped
