"""Every registered method trains on the default synthetic benchmark's data and model for one epoch."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import replace

import pytest
import torch

from mtlbench.methods import METHODS, create
from mtlbench.runner.run_one import Prepared, prepare
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig
from mtlbench.train.loop import mean_losses
from mtlbench.train.step import Trainer

# one epoch of the default pipeline (tiny backbone, batch 16) on a 64-study synthetic train split at
# 32 px keeps ~20 methods within a minute on 2 busy cores
DATA = (("n_test", 8), ("n_train", 64), ("n_val", 16))
CONFIG = TrainConfig(epochs=1, image_size=32)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prepared]:
    """The data and the freshly initialised model, built once; every method trains a copy."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MTLBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on two shared cores thrash
    torch.manual_seed(0)
    yield prepare(RunSpec(method="ls", dataset="synthetic", seed=0, data_options=DATA, train=CONFIG), None)
    torch.set_num_threads(previous)
    mp.undo()


@pytest.mark.parametrize("name", METHODS.names())
def test_method_trains_one_epoch(name: str, prepared: Prepared) -> None:
    torch.manual_seed(0)
    model = copy.deepcopy(prepared.model)
    # a two-stage schedule needs two epochs to exist; one epoch of it (its first stage) is trained
    config = replace(CONFIG, epochs=2) if name == "staged" else CONFIG
    trainer = Trainer(model, create(name), config, torch.device("cpu"))
    before = mean_losses(model, prepared.loaders["val"], torch.device("cpu"))
    trainer.start_epoch(0)
    records = [trainer.step(batch) for batch in prepared.train_batches(0)(0)]
    trainer.end_epoch({t: sum(r.losses[t] for r in records) / len(records) for t in model.tasks})
    after = mean_losses(model, prepared.loaders["val"], torch.device("cpu"))

    assert len(records) == 4
    assert all(math.isfinite(v) for r in records for v in r.losses.values())
    assert all(p.isfinite().all() for p in model.parameters())
    assert after["loss"] < before["loss"]  # one epoch from random weights must lower the validation loss
