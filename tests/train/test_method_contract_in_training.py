"""What training asks of a method (declared hooks only), its seeds, and state that survives a resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from tiny import TinyBackbone, batches

from mtlbench.methods import METHODS, Aggregation, Method, create
from mtlbench.train.checkpoint import CheckpointSettings
from mtlbench.train.config import TrainConfig
from mtlbench.train.loop import fit, mean_losses

CONFIG = TrainConfig(epochs=3, monitor="loss", probe_every=2, update_every=2)
"""3 steps an epoch: probing and weight reuse must go on across the resume where they were."""
PARAMS = {"nashmtl": {"update_weights_every": 2}, "rlar": {"base": "famo"}, "stch": {"warmup_epoch": 0}}
PARAMS["came-grad"] = {"injection": "fluctuation"}  # its running mean of the combined gradient
STATEFUL = ["nashmtl", "pcgrad", "gradvac", "uw", "dwa", "rlw", "famo", "rlar", "cagrad", "came-grad"]
STATEFUL += ["sdmgrad", "moco", "modo", "excessmtl", "graddrop", "db-mtl", "gradnorm", "imtl-l", "imtl", "stch"]
"""Every method that declares state (rlar through the FAMO it wraps; stch leaves its warm-up after
epoch 0, so that its nadir point must survive the kill); the others have nothing to lose but the
engine's progress, which cagrad (weights reused every other step) stands for."""


class Stop(Exception):
    """Stands for a kill right after an epoch's checkpoint was written."""


def _fit(
    method: Method,
    log: list[dict[str, Any]],
    *,
    seed: int,
    checkpoint: Path | None = None,
    stop_after: int = -1,
    stop_at_step: int = -1,
    config: TrainConfig = CONFIG,
) -> None:
    model = TinyBackbone()

    def on_epoch_end(epoch: int, entry: dict) -> None:
        if epoch == stop_after:
            raise Stop

    def logged(entry: dict[str, Any]) -> None:
        log.append(entry)
        if entry["kind"] == "step" and entry["step"] == stop_at_step:
            raise Stop  # a kill inside an epoch, before this step's checkpoint

    fit(
        model,
        method,
        batches,
        lambda m: mean_losses(m, batches(0, 1), torch.device("cpu")),
        config=config,
        device=torch.device("cpu"),
        log=logged,
        checkpoint=checkpoint,
        checkpoints=CheckpointSettings(every_steps=1, every_minutes=0),
        on_epoch_end=on_epoch_end,
        seed=seed,
    )
    log.append({"kind": "parameters", "values": [p.detach().clone().tolist() for p in model.parameters()]})


def _new(name: str) -> Method:
    return create(name, **PARAMS.get(name, {}))


def test_the_stateful_list_is_complete() -> None:
    declared = {name for name in METHODS.names() if create(name, **PARAMS.get(name, {})).state_dict()}
    assert declared == set(STATEFUL) - {"cagrad"}


def _as_uninterrupted(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The log as an uninterrupted run without checkpoints writes it: a "resume" marker supersedes what was
    logged from its step on, and the "checkpoint" markers go."""
    out: list[dict[str, Any]] = []
    for entry in log:
        if entry["kind"] == "checkpoint":
            continue
        if entry["kind"] == "resume":
            out = [e for e in out if not (e["kind"] == "step" and e["step"] >= entry["step"])]
        else:
            out.append(entry)
    return out


@pytest.mark.parametrize(
    ("kill", "resumed_at"),
    [({"stop_after": 0}, (1, 3, 0)), ({"stop_at_step": 4}, (1, 4, 1))],
    ids=["after-an-epoch", "inside-an-epoch"],
)
@pytest.mark.parametrize("name", STATEFUL)
def test_a_killed_run_resumes_to_the_numbers_of_an_uninterrupted_run(
    name: str, kill: dict[str, int], resumed_at: tuple[int, int, int], tmp_path: Path
) -> None:
    """The method's state (generator, EMA targets, optimiser, loss history, step count) goes
    through state_dict into the checkpoint and back, after an epoch or between any two steps
    (weights reused every other step, probing every other step: the kill inside the epoch lands
    between a solve and its reuse)."""
    uninterrupted: list[dict[str, Any]] = []
    _fit(_new(name), uninterrupted, seed=3)
    resumed: list[dict[str, Any]] = []
    with pytest.raises(Stop):
        _fit(_new(name), resumed, seed=3, checkpoint=tmp_path / "checkpoint.pt", **kill)
    _fit(_new(name), resumed, seed=3, checkpoint=tmp_path / "checkpoint.pt")
    (marker,) = [entry for entry in resumed if entry["kind"] == "resume"]
    assert (marker["epoch"], marker["step"], marker["batch"]) == resumed_at  # (epoch, step, its batch)
    assert _as_uninterrupted(resumed) == uninterrupted


@pytest.mark.parametrize(
    ("name", "what"),
    [("rlw", "weights"), ("pcgrad", "update_norm"), ("gradvac", "update_norm"), ("graddrop", "update_norm")],
)
def test_replicate_seeds_reach_the_methods_randomness_and_a_seed_reproduces_it(name: str, what: str) -> None:
    """Two replicate seeds draw different RLW weights, PCGrad / GradVac task orders (K = 3) and
    GradDrop masks; the same seed gives the same training log."""
    logs = {}
    for seed in (0, 1, 0):
        log: list[dict[str, Any]] = []
        _fit(create(name), log, seed=seed, config=replace(CONFIG, update_every=1))
        if seed in logs:
            assert log == logs[seed]
        logs[seed] = log
    sequence = {seed: [entry[what] for entry in log if entry["kind"] == "step"] for seed, log in logs.items()}
    assert sequence[0] != sequence[1]


class Strict(Method):
    """Implements only ``aggregate``; remembers every attribute that training asks it for."""

    asked: ClassVar[set[str]] = set()

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("__"):
            type(self).asked.add(name)
        return super().__getattribute__(name)

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        return Aggregation(direction=grads.sum(0), weights=torch.ones(grads.shape[0], dtype=grads.dtype))


def test_training_asks_a_method_for_nothing_that_the_base_class_does_not_declare(tmp_path: Path) -> None:
    log: list[dict[str, Any]] = []
    _fit(Strict(), log, seed=0, checkpoint=tmp_path / "checkpoint.pt")
    declared = {name for name in dir(Method) if not name.startswith("__")}
    assert {"aggregate", "set_seed", "state_dict", "start_epoch", "frozen_groups"} <= Strict.asked
    assert Strict.asked <= declared, sorted(Strict.asked - declared)
