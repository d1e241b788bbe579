"""`mtlbench status RESULTS`: counts per cell, running and failed runs, tuning trials."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from mtlbench.cli import cli
from mtlbench.results import TRAIN_LOG
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import TUNING_DIR, ResultStore


def test_status_summarises_done_running_failed_pending_and_tuning(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    done, running, failed, pending = (RunSpec("pcgrad", "synthetic", seed) for seed in range(4))
    store.register([done, running, failed, pending])
    store.begin(done, {})
    store.finish(done, {"test": {}}, [])
    store.begin(running, {})
    (store.path(running.run_id) / TRAIN_LOG).write_text(json.dumps({"kind": "epoch", "epoch": 1, "val": {}}) + "\n")
    store.begin(failed, {})
    store.fail(failed, FloatingPointError("diverged: loss of task 'report' is nan"))
    ResultStore(tmp_path / TUNING_DIR).register([RunSpec("ls", "synthetic", 0)])
    result = CliRunner().invoke(cli, ["status", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].split() == ["synthetic", "transformer", "pcgrad", "1", "1", "1", "1"]
    assert "4 runs: 1 done, 1 failed, 1 pending, 1 running" in result.output
    assert "tuning: 1 trials: 1 pending" in result.output
    epochs = running.train.epochs
    assert f"running {running.run_id} pcgrad seed=1: epoch 2/{epochs} done, attempt 1 on " in result.output
    assert f"failed {failed.run_id} pcgrad seed=2: diverged: loss of task 'report' is nan" in result.output


def test_status_of_an_empty_folder_says_how_to_start(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["status", str(tmp_path / "nothing")])
    assert result.exit_code == 1
    assert "no runs in" in result.output and "mtlbench run --results" in result.output


def test_status_watch_ends_once_every_run_has_ended(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    done, failed = RunSpec("ls", "synthetic", 0), RunSpec("ls", "synthetic", 1)
    store.register([done, failed])
    store.begin(done, {})
    store.finish(done, {"test": {}}, [])
    store.begin(failed, {})
    store.fail(failed, RuntimeError("out of memory"))
    result = CliRunner().invoke(cli, ["status", str(tmp_path), "--watch", "--interval", "0.1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"watching {tmp_path}: 2 runs: 1 done, 1 failed (Ctrl-C stops watching, not the runs)",
        "2 runs: 1 done, 1 failed",
    ]


def test_damaged_store_files_are_named_in_one_line_and_damaged_runs_are_redone(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    done, other = RunSpec("ls", "synthetic", 0), RunSpec("ls", "synthetic", 1)
    store.register([done, other])
    store.begin(done, {})
    store.finish(done, {"test": {}}, [])
    (store.path(done.run_id) / "status.json").write_text('{"state": "done", "attempts": ')  # cut off
    result = CliRunner().invoke(cli, ["status", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert re.search(
        rf"damaged {done.run_id} ls seed=0: .*status.json is not valid JSON: Expecting value", result.output
    )
    assert store.state(done.run_id) == "damaged" and store.todo([done, other]) == [done, other]
    (store.path(other.run_id) / "config.json").write_text('{"run_id": "x", "spec": {"method": "ls", "seed": "0"}}')
    result = CliRunner().invoke(cli, ["status", str(tmp_path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert re.search(
        r"config.json: its spec has no 'dataset'; the run folder is damaged: delete it, and a re-run", result.output
    )
