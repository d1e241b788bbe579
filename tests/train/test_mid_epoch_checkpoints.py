"""Mid-epoch checkpoints: a run killed anywhere inside an epoch resumes at the same batch and ends
bit for bit as the uninterrupted run, losing at most the configured interval; a damaged latest
checkpoint is detected and the previous one used, with a line saying so."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mtlbench.methods import create
from mtlbench.results import CHECKPOINT, PREVIOUS_CHECKPOINT, read_train_log
from mtlbench.runner.environment import seed_everything
from mtlbench.runner.loading import DEFAULT_LOADING, LoadSettings
from mtlbench.runner.run_one import prepare
from mtlbench.runner.spec import RunSpec
from mtlbench.train.checkpoint import (
    CheckpointSettings,
    DamagedCheckpoint,
    load_latest_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from mtlbench.train.config import TrainConfig
from mtlbench.train.loop import FitOutcome, fit, mean_losses

# 48 studies in batches of 8: 6 steps an epoch, 18 in all; augmentation on (random crops and flips
# drawn per sample), rlw's random weights from the method's stream, dropout from torch's.
SPEC = RunSpec(
    method="rlw",
    dataset="synthetic",
    seed=4,
    data_options=(("n_test", 8), ("n_train", 48), ("n_val", 8)),
    train=TrainConfig(epochs=3, batch_size=8, image_size=32, monitor="loss"),
)
EVERY = 3


pytestmark = pytest.mark.usefixtures("one_thread")


class Killed(BaseException):
    """Ends a fit where a SIGKILL would: nothing after the last checkpoint is kept but the log."""


def _fit(
    log_path: Path, checkpoint: Path | None, kill_after_step: int | None = None, loading: LoadSettings = DEFAULT_LOADING
) -> tuple[FitOutcome, Any]:
    """One process's attempt at the run, as ``run_one`` makes it: everything built anew from the spec."""
    seed_everything(SPEC.seed)
    prep = prepare(SPEC, None, loading=loading)
    val = prep.loaders["val"]
    with log_path.open("a") as handle:

        def log(entry: dict[str, Any]) -> None:
            handle.write(json.dumps(entry, default=float) + "\n")
            handle.flush()
            if entry["kind"] == "step" and entry["step"] == kill_after_step:
                raise Killed

        outcome = fit(
            prep.model,
            create(SPEC.method),
            prep.train_batches(SPEC.seed),
            lambda model: mean_losses(model, val, torch.device("cpu")),
            config=SPEC.train,
            device=torch.device("cpu"),
            log=log,
            checkpoint=checkpoint,
            checkpoints=CheckpointSettings(every_steps=EVERY, every_minutes=0),
            seed=SPEC.seed,
        )
    return outcome, prep.model.state_dict()


def _scramble_random_state() -> None:
    """A new process starts from other random states: the checkpoint must restore every one."""
    torch.manual_seed(random.SystemRandom().randrange(2**31))
    np.random.seed(random.SystemRandom().randrange(2**31))
    random.seed(random.SystemRandom().randrange(2**31))


def test_killed_at_ten_random_points_inside_epochs_resumes_to_the_uninterrupted_run(tmp_path: Path) -> None:
    reference, reference_weights = _fit(tmp_path / "reference.jsonl", None)
    steps, per_epoch = 18, 6
    rng = random.Random(1722)
    inside = [s for s in range(EVERY, steps - 1) if (s + 1) % per_epoch]  # after the first checkpoint, mid-epoch
    kills = sorted(rng.sample(inside, 10))
    folder = tmp_path / "run"
    folder.mkdir()
    log_path, checkpoint = folder / "train_log.jsonl", folder / CHECKPOINT
    for number, kill in enumerate(kills):
        with pytest.raises(Killed):
            _fit(log_path, checkpoint, kill_after_step=kill)
        if number == 4:  # the disk damaged the latest checkpoint: the previous one is used
            data = checkpoint.read_bytes()
            checkpoint.write_bytes(data[: len(data) // 2])
        _scramble_random_state()
    outcome, weights = _fit(log_path, checkpoint)

    assert outcome.history == reference.history and outcome.diagnostics == reference.diagnostics
    assert all(torch.equal(weights[name], value) for name, value in reference_weights.items())
    assert read_train_log(log_path) == read_train_log(tmp_path / "reference.jsonl")  # rlw's weights, step by step
    entries = [json.loads(line) for line in log_path.read_text().splitlines()]
    resumes = [e for e in entries if e["kind"] == "resume"]
    assert len(resumes) == len(kills)
    skipped = [e for e in entries if e["kind"] == "checkpoint_skipped"]
    assert len(skipped) == 1 and "truncated" in skipped[0]["message"] and str(checkpoint) in skipped[0]["message"]
    for kill, resume in zip(kills, resumes):
        lost = kill + 1 - resume["step"]  # steps done before the kill that the resumed run does again
        damaged = resume is resumes[4]  # after the damage: from the previous checkpoint, up to two intervals
        assert 0 <= lost <= (2 * EVERY if damaged else EVERY), (kill, resume)
        assert resume["batch"] == resume["step"] % per_epoch  # the position inside the epoch
    assert not (folder / PREVIOUS_CHECKPOINT).exists() or read_checkpoint(folder / PREVIOUS_CHECKPOINT)


def test_a_resume_inside_an_epoch_with_loader_workers_gives_the_same_run(tmp_path: Path) -> None:
    """Persistent worker processes: the skipped batches are left out by the sampler in the main process."""
    reference, reference_weights = _fit(tmp_path / "reference.jsonl", None)
    workers = LoadSettings(workers=2)
    with pytest.raises(Killed):
        _fit(tmp_path / "log.jsonl", tmp_path / CHECKPOINT, kill_after_step=8, loading=workers)
    _scramble_random_state()
    outcome, weights = _fit(tmp_path / "log.jsonl", tmp_path / CHECKPOINT, loading=workers)
    assert outcome.history == reference.history
    assert all(torch.equal(weights[name], value) for name, value in reference_weights.items())


def test_checkpoint_files_are_checked_and_the_last_two_kept(tmp_path: Path) -> None:
    latest = tmp_path / CHECKPOINT
    lines: list[str] = []
    assert load_latest_checkpoint(latest, lines.append) is None
    save_checkpoint(latest, {"n": 1})
    save_checkpoint(latest, {"n": 2})
    save_checkpoint(latest, {"n": 3})
    assert read_checkpoint(latest) == {"n": 3} and read_checkpoint(tmp_path / PREVIOUS_CHECKPOINT) == {"n": 2}
    assert {p.name for p in tmp_path.iterdir()} == {CHECKPOINT, PREVIOUS_CHECKPOINT}  # no temporary left
    data = bytearray(latest.read_bytes())
    data[-10] ^= 0x01  # one flipped bit
    latest.write_bytes(bytes(data))
    with pytest.raises(DamagedCheckpoint, match="checksum"):
        read_checkpoint(latest)
    assert load_latest_checkpoint(latest, lines.append) == {"n": 2}
    assert len(lines) == 1 and "checksum does not match" in lines[0]
    (tmp_path / PREVIOUS_CHECKPOINT).write_bytes(b"")
    assert load_latest_checkpoint(latest, lines.append) is None
    assert len(lines) == 3


@pytest.mark.parametrize(("steps", "minutes", "since", "seconds", "due"), [
    (0, 0, 10**6, 10**6, False), (3, 0, 2, 10**6, False), (3, 0, 3, 0, True),
    (0, 0.5, 10**6, 29, False), (0, 0.5, 1, 30, True), (5, 1, 5, 0, True),
])  # fmt: skip
def test_a_checkpoint_is_due_by_steps_or_by_time(steps: int, minutes: float, since: int, seconds: float, due: bool):
    assert CheckpointSettings(every_steps=steps, every_minutes=minutes).due(since, seconds) is due


@pytest.mark.parametrize("bad", [{"every_steps": -1}, {"every_minutes": -2.0}, {"every_steps": 1.5}])
def test_bad_checkpoint_settings_are_refused_in_one_line(bad: dict) -> None:
    from mtlbench.errors import MtlbenchError

    with pytest.raises(MtlbenchError, match="--checkpoint-"):
        CheckpointSettings(**bad)
