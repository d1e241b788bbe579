"""The real pipeline: mixed precision on the default backbone, and diagnostics in a run's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mtlbench.methods import create
from mtlbench.metrics.config import EvalConfig
from mtlbench.results import DONE, METRICS, TRAIN_LOG
from mtlbench.runner.run_one import prepare, run_one
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig
from mtlbench.train.step import Trainer

DATA = (("n_test", 8), ("n_train", 32), ("n_val", 8))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", ["nashmtl", "came-grad", "famo"])
def test_fp16_training_steps_match_fp32_diagnostics(name: str) -> None:
    spec = RunSpec(method=name, dataset="synthetic", seed=0, data_options=DATA, train=TrainConfig(image_size=32))
    prep = prepare(spec, None)
    batch = next(iter(prep.train_batches(0)(0)))
    records = {}
    for precision in ("fp32", "fp16"):
        torch.manual_seed(0)
        model = prepare(spec, None).model
        config = TrainConfig(image_size=32, precision=precision, probe_every=1)
        trainer = Trainer(model, create(name), config, torch.device("cpu"))
        trainer.start_epoch(0)
        records[precision] = [trainer.step(batch), trainer.step(batch)]
        assert all(bool(p.isfinite().all()) for p in model.parameters())
    for fp32, fp16 in zip(records["fp32"], records["fp16"]):
        for task, norm in fp32.grad_norms.items():
            assert fp16.grad_norms[task] == pytest.approx(norm, rel=0.05), task  # not multiplied by the scale
        assert fp16.weights == pytest.approx(fp32.weights, rel=0.1)


def test_a_run_writes_its_method_diagnostics_to_the_log_and_the_metrics(tmp_path: Path) -> None:
    spec = RunSpec(
        method="came-grad",
        dataset="synthetic",
        seed=0,
        data_options=DATA,
        train=TrainConfig(epochs=1, image_size=32, monitor="loss"),
        eval=EvalConfig(meteor=False),
    )
    assert run_one(spec, tmp_path) == DONE
    folder = tmp_path / "runs" / spec.run_id
    lines = [json.loads(line) for line in (folder / TRAIN_LOG).read_text().splitlines()]
    steps = [line for line in lines if line["kind"] == "step"]
    assert len(steps) == 2
    for step in steps:
        assert set(step["weights"]) == {"report", "cls"} and set(step["grad_norms"]) == {"report", "cls"}
        assert "report|cls" in step["cosines"] and isinstance(step["conflict"], bool) and step["update_norm"] > 0
        stages = {"cagrad_weights", "cagrad_lam", "s1_cos_ls", "d_norm", "n_ref", "gain", "nu_t", "conflict"}
        assert stages <= set(step["info"])  # CAME-Grad's quantities, stage by stage
        assert step["update_norm"] == pytest.approx(step["info"]["out_norm"], rel=1e-5)
    diagnostics = json.loads((folder / METRICS).read_text())["diagnostics"]
    assert diagnostics["steps"] == 2 and diagnostics["probed_steps"] == 2
    assert 0.0 <= diagnostics["conflict_share"] <= 1.0 and "conflict_share[report|cls]" in diagnostics
    for key in ("mean_weight[cls]", "mean_cos[report|cls]", "mean_grad_norm[report]", "mean_update_norm"):
        assert key in diagnostics
    for key in ("gain", "nu_t", "d_norm", "s1_cos_ls", "cagrad_weights[0]"):
        assert f"mean_info.{key}" in diagnostics


def test_rlar_at_its_defaults_acts_on_the_default_backbone() -> None:
    """Its penalty must fire on real representation gradients, whose per-sample cosines sit near 0
    (a threshold of 0.5 never fired there, and RLAR's runs equalled its base's to the last digit)."""
    spec = RunSpec(method="rlar", dataset="synthetic", seed=0, data_options=DATA, train=TrainConfig(image_size=32))
    batch = next(iter(prepare(spec, None).train_batches(0)(0)))
    grads = {}
    for name in ("rlar", "ls"):
        torch.manual_seed(0)
        model = prepare(spec, None).model
        trainer = Trainer(model, create(name), TrainConfig(image_size=32, probe_every=1), torch.device("cpu"))
        trainer.start_epoch(0)
        record = trainer.step(batch)
        grads[name] = torch.cat([p.detach().flatten() for p in model.parameters()])
        if name == "rlar":
            assert record.info["penalty"] > 0.0 and record.info["penalty_active"] == 1.0
    assert not torch.equal(grads["rlar"], grads["ls"])  # one step later the parameters differ
