"""Every registered method trains on the default synthetic benchmark's data and model for one epoch."""

from __future__ import annotations

import math

import pytest
import torch

from mtlbench.methods import METHODS, create
from mtlbench.runner.run_one import prepare
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig
from mtlbench.train.loop import mean_losses
from mtlbench.train.step import Trainer

# one epoch of the default pipeline (tiny backbone, 64 px, batch 16) on a 64-study synthetic
# train split keeps ~20 methods within a minute or two on 2 cores
DATA = (("n_test", 8), ("n_train", 64), ("n_val", 16))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("MTLBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.mark.parametrize("name", METHODS.names())
def test_method_trains_one_epoch(name: str, cache: None) -> None:
    torch.manual_seed(0)
    spec = RunSpec(method=name, dataset="synthetic", seed=0, data_options=DATA, train=TrainConfig(epochs=1))
    prep = prepare(spec, None)
    trainer = Trainer(prep.model, create(name), spec.train, torch.device("cpu"))
    before = mean_losses(prep.model, prep.loaders["val"], torch.device("cpu"))
    trainer.start_epoch(0)
    records = [trainer.step(batch) for batch in prep.train_batches(0)(0)]
    trainer.end_epoch({t: sum(r.losses[t] for r in records) / len(records) for t in spec.tasks})
    after = mean_losses(prep.model, prep.loaders["val"], torch.device("cpu"))

    assert len(records) == 4
    assert all(math.isfinite(v) for r in records for v in r.losses.values())
    assert all(p.isfinite().all() for p in prep.model.parameters())
    assert after["loss"] < before["loss"]  # one epoch from random weights must lower the validation loss
