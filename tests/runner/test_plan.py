"""`mtlbench run --plan`: the grid, what is done, and estimates from probes, without training."""

from __future__ import annotations

from pathlib import Path

import pytest
from grid_cli import TINY_GRID, run_mtlbench

from mtlbench.runner.plan import Probe, estimate, schedule
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig


def test_the_grid_wall_clock_schedules_runs_on_free_slots_after_each_slot_starts() -> None:
    assert schedule([5, 4, 3, 3], 2, start=1) == 1 + 8  # 5+3 on one slot, 4+3 on the other
    assert schedule([5], 4) == 5 and schedule([], 2) == 0


def test_a_run_is_set_up_plus_its_epochs_plus_its_test() -> None:
    probe = {name: 0 for name in Probe.__dataclass_fields__}
    probe |= {"setup": 2.0, "data_per_batch": 0.1, "step": 0.4, "train_batches": 10, "val_batches": 2}
    probe |= {"val_loss_per_batch": 0.5, "encode_per_batch": 0.25, "decode_step": 0.01, "val_decode_steps": 100}
    probe |= {"val_scoring": 1.0, "checkpoint_save": 0.5, "test_batches": 4, "test_decode_steps": 200}
    probe |= {"test_scoring": 3.0}
    run = estimate(RunSpec("ls", "synthetic", 0, train=TrainConfig(epochs=3)), probe)
    epoch = 10 * 0.5 + (2 * 0.5 + 2 * 0.25 + 100 * 0.01 + 1.0) + 0.5
    assert run.seconds == pytest.approx(2.0 + 3 * epoch + (4 * 0.25 + 200 * 0.01 + 3.0))
    loss_only = estimate(RunSpec("ls", "synthetic", 0, train=TrainConfig(epochs=3, monitor="loss")), probe)
    assert loss_only.parts["validation"] == pytest.approx(3 * 2 * 0.5)  # no generation when selecting on loss


@pytest.mark.slow
def test_plan_lists_the_runs_and_those_done_and_estimates_without_training(
    sequential: Path, cache_dir: Path, tmp_path: Path
) -> None:
    before = sorted((p, p.stat().st_mtime_ns) for p in sequential.rglob("*") if p.is_file())
    args = ["run", *TINY_GRID, "--seeds", "2", "--results", str(sequential), "--plan"]  # seed 0 is done, 1 is not
    result = run_mtlbench(args, cache_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "plan: 6 runs, 3 done, 3 to run" in out and "whole grid: about" in out
    for name in ("ls", "pcgrad", "rlw"):
        (row,) = [line for line in out.splitlines() if line.startswith(name + " ")]
        assert "transformer  synthetic  tiny    2 (1)" in row and " MB" in row
    assert sorted((p, p.stat().st_mtime_ns) for p in sequential.rglob("*") if p.is_file()) == before  # nothing ran
