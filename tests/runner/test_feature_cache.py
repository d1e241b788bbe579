"""The frozen-extractor feature cache: computed once, and the same training as the uncached frozen run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mtlbench.errors import MtlbenchError
from mtlbench.metrics.config import EvalConfig
from mtlbench.runner.feature_cache import check_feature_cache
from mtlbench.runner.run_one import run_one
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig

DATA = (("generator_version", "4"), ("n_test", 4), ("n_train", 8), ("n_val", 4))
FROZEN = (("beam_size", 1), ("extractor", "resnet101"), ("freeze_extractor", True))


def _spec(*extra: tuple[str, object], augment: bool = False) -> RunSpec:
    train = TrainConfig(epochs=1, batch_size=4, image_size=32, augment=augment)
    return RunSpec("ls", "synthetic", 0, data_options=DATA, backbone_options=FROZEN + extra, train=train,
                   eval=EvalConfig(meteor=False))  # fmt: skip


@pytest.mark.slow
def test_cached_features_train_as_the_uncached_frozen_run_without_augmentation(tmp_path: Path) -> None:
    """ResNet-101 at its (seeded) random initialisation, frozen; 32 px keeps it affordable on a CPU."""
    torch.set_num_threads(1)
    live, cached = _spec(), _spec(("feature_cache", True))
    assert cached.run_id != live.run_id  # a different computation (features batched otherwise): its own id
    for spec in (live, cached):
        assert run_one(spec, tmp_path) == "done"
    a, b = (json.loads((tmp_path / "runs" / s.run_id / "metrics.json").read_text()) for s in (live, cached))
    for key in ("train_loss", "val"):
        for name, value in a["history"][0][key].items():
            assert b["history"][0][key][name] == pytest.approx(value, rel=1e-5, abs=1e-6), (key, name)
    assert b["test"] == pytest.approx(a["test"], rel=1e-5, abs=1e-6)
    examples = [(tmp_path / "runs" / s.run_id / "examples.jsonl").read_text() for s in (live, cached)]
    assert [json.loads(x)["generated"] for x in examples[0].splitlines()] == [
        json.loads(x)["generated"] for x in examples[1].splitlines()
    ]


def test_the_feature_cache_refuses_a_trained_extractor_and_augmentation_in_one_line() -> None:
    with pytest.raises(MtlbenchError, match="needs freeze_extractor=true"):
        check_feature_cache(RunSpec("ls", "synthetic", 0, backbone_options=(("feature_cache", True),)))
    with pytest.raises(MtlbenchError, match=r"add --no-augment \(train.augment = false\)") as err:
        check_feature_cache(_spec(("feature_cache", True), augment=True))
    assert "\n" not in str(err.value)
    check_feature_cache(_spec(("feature_cache", True)))  # frozen and unaugmented: accepted
