"""Seeds fix Python, NumPy, torch and the data order; each run records what it ran on."""

from __future__ import annotations

import platform
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from mtlbench.results import iter_runs
from mtlbench.runner.environment import seed_everything
from mtlbench.runner.run_one import prepare
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig


@pytest.fixture
def restore_determinism() -> Iterator[None]:
    """seed_everything switches torch's process-wide setting; other tests get theirs back."""
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_seed_everything_fixes_python_numpy_and_torch_and_asks_for_deterministic_algorithms(
    restore_determinism: None,
) -> None:
    seed_everything(3)
    first = _draws()
    _draws()
    seed_everything(3)
    assert _draws() == first
    seed_everything(4)
    assert _draws() != first
    assert torch.are_deterministic_algorithms_enabled()


def test_the_data_order_depends_only_on_the_seed_and_the_epoch() -> None:
    sizes = (("n_test", 8), ("n_train", 24), ("n_val", 8))
    spec = RunSpec("ls", "synthetic", 0, data_options=sizes, train=TrainConfig(batch_size=8))
    one, two = prepare(spec, None), prepare(spec, None)

    def order(prepared: object, seed: int, epoch: int) -> list[str]:
        return [i for batch in prepared.train_batches(seed)(epoch) for i in batch.ids]  # type: ignore[attr-defined]

    torch.manual_seed(123)  # the global RNG state does not matter
    reference = order(one, 0, 1)
    torch.manual_seed(456)
    assert order(two, 0, 1) == reference
    assert sorted(reference) == sorted(order(one, 0, 0)) and order(one, 0, 0) != reference  # reshuffled per epoch
    assert order(one, 1, 1) != reference  # and per seed


def test_each_run_records_python_torch_key_packages_code_revision_and_device(sequential: Path) -> None:
    for run in iter_runs(sequential):
        environment = run.status["environment"]
        assert environment["python"] == platform.python_version()
        assert environment["packages"]["torch"] == torch.__version__
        assert {"numpy", "mtlbench", "pycocoevalcap"} <= set(environment["packages"])
        assert "code_revision" in environment  # the git commit (+dirty), or None outside a checkout
        assert environment["device"] == "cpu" and environment["torch_threads"] >= 1
        assert run.status["host"] == platform.node() and run.status["attempts"] == 1
