"""Experiment trackers, read back with their own packages: TensorBoard event files, the MLflow file
store, the W&B offline run file. Fed from run_one's training log, one tracker run per run."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from wandb.proto import wandb_internal_pb2

from mtlbench.cli import cli
from mtlbench.metrics.config import EvalConfig
from mtlbench.results import read_json, read_train_log
from mtlbench.runner.run_one import run_one
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore
from mtlbench.runner.trackers import TrackerSettings
from mtlbench.runner.trackers.feed import TrackerFeed
from mtlbench.runner.trackers.mlflow_tracker import tracking_uri
from mtlbench.train.config import TrainConfig

TINY = {
    "data_options": (("n_test", 8), ("n_train", 24), ("n_val", 8)),
    "train": TrainConfig(epochs=2, batch_size=8),
    "eval": EvalConfig(meteor=False),
}


def _scalars(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def wandb_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """The records of a W&B run file (``run-<id>.wandb``): a 7-byte header (":W&B", magic, version),
    then LevelDB's log format, 32 KiB blocks of chunks [crc32c:4][length:2][type:1][data], a record
    being one FULL chunk or FIRST, MIDDLE..., LAST. (wandb 0.31 ships no Python reader of it.)"""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    data, position, parts, out = data[7:], 0, b"", []
    while position + 7 <= len(data):
        room = 32768 - (position + 7) % 32768  # blocks count from the file's start
        if room < 7:
            position += room
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        chunk = data[position + 7 : position + 7 + length]
        position += 7 + length
        parts = chunk if kind in (1, 2) else parts + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            out.append(record)
    return out


@pytest.fixture(scope="module")
def tracked(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSpec, TrackerSettings]:
    """One real tiny run (CAGrad, 2 epochs of 3 steps) logged to all three trackers."""
    results = tmp_path_factory.mktemp("tracked") / "results"
    settings = TrackerSettings(("tensorboard", "mlflow", "wandb"), str(results / "trackers"), "tiny-grid")
    spec = RunSpec("cagrad", "synthetic", 0, **TINY)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MTLBENCH_CACHE", str(cache_dir))
        patch.delenv("WANDB_MODE", raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        assert run_one(spec, results, trackers=settings) == "done"
    return results, spec, settings


def _logged(results: Path, spec: RunSpec) -> tuple[list[dict], list[dict], dict]:
    log = read_train_log(ResultStore(results).path(spec.run_id) / "train_log.jsonl")
    metrics = read_json(ResultStore(results).path(spec.run_id) / "metrics.json")
    return [e for e in log if e["kind"] == "step"], [e for e in log if e["kind"] == "epoch"], metrics


def test_tensorboard_holds_the_runs_steps_epochs_test_metrics_and_hyper_parameters(tracked) -> None:
    results, spec, settings = tracked
    steps, epochs, metrics = _logged(results, spec)
    events = _scalars(Path(settings.directory) / "tensorboard" / "tiny-grid" / spec.run_id)
    losses = events.Scalars("train/loss/report")
    assert [e.step for e in losses] == [s["step"] for s in steps] == list(range(6))
    assert [e.value for e in losses] == pytest.approx([s["losses"]["report"] for s in steps])
    assert [e.value for e in events.Scalars("train/weight/cls")] == pytest.approx([s["weights"]["cls"] for s in steps])
    cosines = [s["cosines"]["report|cls"] for s in steps]
    assert [e.value for e in events.Scalars("train/cos/report_vs_cls")] == pytest.approx(cosines)
    assert [e.value for e in events.Scalars("train/grad_norm/report")] == pytest.approx(
        [s["grad_norms"]["report"] for s in steps]
    )
    val = events.Scalars("val/BLEU_4")
    assert [e.step for e in val] == [2, 5] and [e.value for e in val] == pytest.approx(
        [e["val"]["BLEU_4"] for e in epochs]
    )
    assert events.Scalars("test/CE_F1_micro")[0].value == pytest.approx(metrics["test"]["CE_F1_micro"])
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["method"].string_value == "cagrad" and hparams["train.lr"].number_value == pytest.approx(1e-3)
    assert hparams["run_id"].string_value == spec.run_id


def test_mlflow_holds_one_run_named_by_its_run_id_in_the_grids_experiment(tracked) -> None:
    results, spec, settings = tracked
    steps, epochs, metrics = _logged(results, spec)
    client = MlflowClient(tracking_uri=tracking_uri(settings.directory))
    experiment = client.get_experiment_by_name("tiny-grid")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == spec.run_id and run.info.status == "FINISHED"
    assert run.data.params["train.lr"] == "0.001" and run.data.params["method"] == "cagrad"
    assert run.data.tags["mtlbench.run_id"] == spec.run_id and run.data.tags["seed"] == "0"
    history = client.get_metric_history(run.info.run_id, "train/loss/cls")
    assert [(m.step, m.value) for m in history] == [(s["step"], pytest.approx(s["losses"]["cls"])) for s in steps]
    assert [m.value for m in client.get_metric_history(run.info.run_id, "val/loss")] == pytest.approx(
        [e["val"]["loss"] for e in epochs]
    )
    assert run.data.metrics["test/BLEU_4"] == pytest.approx(metrics["test"]["BLEU_4"])


def test_wandb_offline_holds_the_run_its_config_history_and_summary(tracked) -> None:
    results, spec, settings = tracked
    steps, epochs, metrics = _logged(results, spec)
    (folder,) = (Path(settings.directory) / "wandb").glob(f"offline-run-*-{spec.run_id}")
    records = wandb_records(folder / f"run-{spec.run_id}.wandb")
    (run,) = [r.run for r in records if r.HasField("run")]
    assert run.run_id == spec.run_id and run.display_name == spec.run_id and run.run_group == "tiny-grid"
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert config["train.lr"] == 1e-3 and config["method"] == "cagrad"
    rows = []
    for record in records:
        if record.HasField("history"):
            rows.append({item.nested_key[0] if item.nested_key else item.key: json.loads(item.value_json)
                         for item in record.history.item})  # fmt: skip
    assert [row["_step"] for row in rows] == list(range(6))
    assert [row["train/loss/report"] for row in rows] == pytest.approx([s["losses"]["report"] for s in steps])
    assert [row["val/BLEU_4"] for row in rows if "val/BLEU_4" in row] == pytest.approx(
        [e["val"]["BLEU_4"] for e in epochs]
    )
    summary = {}
    for record in records:
        if record.HasField("summary"):
            summary |= {item.key or item.nested_key[0]: item.value_json for item in record.summary.update}
    assert json.loads(summary["test/BLEU_4"]) == pytest.approx(metrics["test"]["BLEU_4"])
    (exit_record,) = [r.exit for r in records if r.HasField("exit")]
    assert exit_record.exit_code == 0


def _step(step: int, epoch: int, loss: float) -> dict:
    return {"kind": "step", "epoch": epoch, "step": step, "losses": {"report": loss}, "weights": {"report": 1.0}}


def _epoch(epoch: int) -> dict:
    return {"kind": "epoch", "epoch": epoch, "val": {"loss": 1.0 / (epoch + 1)}}


def test_a_restarted_run_shows_each_step_once_and_a_fresh_attempt_replaces_the_old(tmp_path: Path) -> None:
    """Attempt 1 logs two epochs and is killed before its checkpoint (and mid-epoch 3); attempt 2
    resumes at epoch 2 and logs it again; attempt 3 starts afresh."""
    settings = TrackerSettings(("tensorboard", "mlflow"), str(tmp_path), "g")
    spec = RunSpec("ls", "synthetic", 0)
    first = TrackerFeed(settings, spec)
    for entry in [*(_step(s, 0, 10.0 + s) for s in range(3)), _epoch(0), *(_step(s, 1, 10.0 + s) for s in (3, 4, 5))]:
        first(entry)
    first(_epoch(1))
    first(_step(6, 2, 99.0))  # held back with its unfinished epoch, then lost with the process
    second = TrackerFeed(settings, spec)
    second({"kind": "resume", "epoch": 1, "step": 3})
    for entry in [*(_step(s, 1, 10.0 + s) for s in (3, 4, 5)), _epoch(1)]:
        second(entry)
    second.done({"test": {"BLEU_4": 0.25}, "best_epoch": 1})
    events = _scalars(tmp_path / "tensorboard" / "g" / spec.run_id)
    assert [(e.step, e.value) for e in events.Scalars("train/loss/report")] == [(s, 10.0 + s) for s in range(6)]
    client = MlflowClient(tracking_uri=tracking_uri(str(tmp_path)))
    experiment = client.get_experiment_by_name("g")
    (run,) = client.search_runs([experiment.experiment_id])
    history = client.get_metric_history(run.info.run_id, "train/loss/report")
    assert sorted((m.step, m.value) for m in history) == [(s, 10.0 + s) for s in range(6)]
    assert run.data.metrics["test/BLEU_4"] == 0.25 and run.info.status == "FINISHED"
    third = TrackerFeed(settings, spec)
    for entry in [_step(0, 0, 5.0), _epoch(0)]:
        third(entry)
    third.failed()
    (run,) = client.search_runs([experiment.experiment_id])  # the earlier attempt's MLflow run is gone
    assert [m.value for m in client.get_metric_history(run.info.run_id, "train/loss/report")] == [5.0]
    assert run.info.status == "FAILED"
    tb = _scalars(tmp_path / "tensorboard" / "g" / spec.run_id).Scalars("train/loss/report")
    assert [(e.step, e.value) for e in tb] == [(0, 5.0)]


def test_steps_a_mid_epoch_checkpoint_holds_reach_the_tracker_once_across_a_kill(tmp_path: Path) -> None:
    """Attempt 1 logs steps 0-1, checkpoints (before step 2), logs step 2 and is killed; attempt 2
    resumes at step 2 mid-epoch. Steps 0-1 come from attempt 1, steps 2-3 from attempt 2, each once."""
    settings = TrackerSettings(("tensorboard",), str(tmp_path), "g")
    spec = RunSpec("ls", "synthetic", 0)
    first = TrackerFeed(settings, spec)
    for entry in [_step(0, 0, 10.0), _step(1, 0, 11.0), {"kind": "checkpoint", "step": 2}, _step(2, 0, 99.0)]:
        first(entry)
    second = TrackerFeed(settings, spec)
    second({"kind": "resume", "epoch": 0, "step": 2, "batch": 2})
    for entry in [_step(2, 0, 12.0), _step(3, 0, 13.0), _epoch(0)]:
        second(entry)
    second.done({"test": {"BLEU_4": 0.25}, "best_epoch": 0})
    events = _scalars(tmp_path / "tensorboard" / "g" / spec.run_id)
    assert [(e.step, e.value) for e in events.Scalars("train/loss/report")] == [(s, 10.0 + s) for s in range(4)]


def test_log_to_names_the_trackers_and_the_extra_a_missing_one_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = CliRunner().invoke(cli, ["run", "--log-to", "tensorbored", "--results", str(tmp_path)])
    assert result.exit_code == 1
    assert "--log-to: unknown tracker tensorbored; choose among tensorboard, mlflow, wandb" in result.output
    monkeypatch.setitem(__import__("sys").modules, "wandb", None)
    result = CliRunner().invoke(cli, ["run", "--log-to", "wandb", "--results", str(tmp_path)])
    assert result.exit_code == 1 and 'Error: --log-to wandb needs its extra: pip install "mtlbench[wandb]"' in (
        result.output
    )
    assert not (tmp_path / "runs").exists()  # refused before any run started
