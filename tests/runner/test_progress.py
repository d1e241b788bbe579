"""The grid's progress display: counts, ETA and epochs; plain lines when not on a terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mtlbench.results import TRAIN_LOG
from mtlbench.runner.executors.base import Outcome
from mtlbench.runner.progress import GridProgress, StoreWatch, clock, eta_seconds
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import TUNING_DIR, ResultStore
from mtlbench.train.config import TrainConfig


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _log(store: ResultStore, spec: RunSpec, *entries: dict) -> None:
    path = store.path(spec.run_id) / TRAIN_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(entry) + "\n")


def _specs() -> list[RunSpec]:
    return [RunSpec("ls", "synthetic", seed, train=TrainConfig(epochs=4)) for seed in range(3)]


def test_plain_lines_report_runs_epochs_and_a_summary_without_terminal_codes(tmp_path: Path) -> None:
    store, stream = ResultStore(tmp_path), io.StringIO()
    specs = _specs()
    _log(store, specs[0], {"kind": "epoch", "epoch": 0, "val": {"BLEU_4": 0.1}})  # from an earlier attempt
    progress = GridProgress(total=4, done=1, store=store, stream=stream, poll_s=0)
    progress.start(tmp_path, specs)
    _log(store, specs[0], {"kind": "resume", "epoch": 1, "step": 9})
    _log(
        store, specs[0], {"kind": "step", "epoch": 1, "step": 9}, {"kind": "epoch", "epoch": 1, "val": {"BLEU_4": 0.25}}
    )
    progress(Outcome(specs[0], "done", 3.0))
    store.fail(specs[1], RuntimeError("diverged: loss of task 'report' is nan"))
    progress(Outcome(specs[1], "failed", 1.0))
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0] == f"grid: 4 runs, 1 already done, 3 to run -> {tmp_path}"
    assert lines[1] == "  ls seed=0: resumed at epoch 2"  # the earlier attempt's epoch is not repeated
    assert lines[2] == "  ls seed=0 epoch 2/4: val BLEU_4 0.2500"
    assert lines[3].startswith("[1/3] done   ls seed=0 synthetic/transformer (3.0 s)")
    assert lines[4].endswith("(1.0 s): diverged: loss of task 'report' is nan")
    assert lines[5].startswith("grid finished in") and lines[5].endswith("done 2 | failed 1 | left 1")
    assert "\r" not in stream.getvalue() and "\033" not in stream.getvalue()


def test_a_terminal_gets_a_live_board_of_counts_eta_and_the_running_runs(tmp_path: Path) -> None:
    store, stream = ResultStore(tmp_path), _Terminal()
    specs = _specs()
    progress = GridProgress(total=3, done=0, store=store, stream=stream, poll_s=0)
    progress.start(tmp_path, specs)
    assert progress.live and progress.status_line() == "done 0 | failed 0 | left 3 | ETA ?"
    store.begin(specs[1], {})  # the run starts: its status is written
    _log(
        store,
        specs[1],
        {"kind": "epoch", "epoch": 0, "val": {}},
        {"kind": "epoch", "epoch": 1, "val": {"BLEU_4": 0.25}},
    )
    progress.poll()
    board = stream.getvalue()
    assert "done 0 · failed 0 · running 1 · pending 2" in board and progress.eta() is not None
    assert "ls seed=1" in board and "2/4" in board and "BLEU_4 0.2500" in board and "synthetic/transformer" in board
    assert progress.status_line().endswith("| epochs: ls seed=1 2/4")
    progress(Outcome(specs[0], "done", 1.0))
    assert "[1/3] done   ls seed=0 synthetic/transformer (1.0 s)" in stream.getvalue()
    assert "done 1 · failed 0 · running 1 · pending 1" in stream.getvalue()
    progress.finish(interrupted=True)
    last = stream.getvalue().rstrip().splitlines()[-1]
    assert last.split("\033[?25h")[-1].startswith("grid stopped after")  # after the cursor comes back


def test_the_eta_is_the_pace_of_finished_epochs_applied_to_those_left() -> None:
    assert eta_seconds(0, 10.0, 5) is None  # nothing finished yet: no pace to go by
    assert eta_seconds(4, 60.0, 10) == pytest.approx(150.0)
    assert clock(None) == "?" and clock(75.4) == "1:15" and clock(3725) == "1:02:05"


def test_a_new_attempt_without_checkpoint_restarts_the_epoch_count(tmp_path: Path) -> None:
    store, stream = ResultStore(tmp_path), io.StringIO()
    (spec,) = _specs()[:1]
    progress = GridProgress(total=1, done=0, store=store, stream=stream, poll_s=0)
    progress.start(tmp_path, [spec])
    _log(store, spec, *({"kind": "epoch", "epoch": e, "val": {}} for e in range(3)))
    progress.poll()
    (store.path(spec.run_id) / TRAIN_LOG).unlink()  # what ResultStore.begin does for a fresh attempt
    _log(store, spec, {"kind": "epoch", "epoch": 0, "val": {}})
    progress.poll()
    assert progress.status_line().endswith("epochs: ls seed=0 1/4")


def test_watching_a_store_reports_what_changes_and_ends_when_all_runs_ended(tmp_path: Path) -> None:
    store, stream = ResultStore(tmp_path), io.StringIO()
    done, running, pending = _specs()
    store.register([done, running, pending])
    store.begin(done, {})
    store.finish(done, {"test": {}}, [])
    store.begin(running, {})
    _log(store, running, {"kind": "epoch", "epoch": 0, "val": {"BLEU_4": 0.1}})
    trials = ResultStore(tmp_path / TUNING_DIR)  # a tuned grid's trials are watched too
    trials.register([done])
    trials.begin(done, {})
    trials.finish(done, {"test": {}}, [])
    watch = StoreWatch(tmp_path, stream=stream, poll_s=0)
    assert watch.poll() == {"done": 2, "failed": 0, "running": 1, "pending": 1}
    assert stream.getvalue() == ""  # the store as it was is not news
    _log(store, running, {"kind": "epoch", "epoch": 1, "val": {"BLEU_4": 0.2}})
    store.begin(pending, {})
    store.fail(pending, RuntimeError("diverged: loss of task 'cls' is inf"))
    assert watch.poll() == {"done": 2, "failed": 1, "running": 1, "pending": 0}
    lines = sorted(stream.getvalue().splitlines())  # in run-id order
    assert lines == ["  ls seed=1 epoch 2/4: val BLEU_4 0.2000",
                     "failed  ls seed=2 synthetic/transformer: diverged: loss of task 'cls' is inf"]  # fmt: skip
    assert watch.eta() is not None  # one epoch seen finishing, two left
    store.finish(running, {"test": {}}, [])
    watch.run()  # everything has ended: one scan, then the summary
    assert stream.getvalue().splitlines()[-1] == "4 runs: 3 done, 1 failed"


def test_a_run_held_by_another_process_is_named_with_its_holder_and_not_counted(tmp_path: Path) -> None:
    from mtlbench.runner.lease import HELD, Lease

    store, specs, stream = ResultStore(tmp_path), _specs(), io.StringIO()
    store.register(specs)
    lease = Lease.acquire(store.path(specs[0].run_id))  # as the other grid holds it
    progress = GridProgress(total=3, done=0, store=store, stream=stream, poll_s=0)
    progress.start(tmp_path, specs)
    progress(Outcome(specs[0], HELD, 0.0))
    assert progress.failed == 0 and progress.finished == 0 and progress.left == 3
    (line,) = [line for line in stream.getvalue().splitlines() if line.startswith("held")]
    assert f"another process trains it (pid {lease.owner['pid']} on " in line and "waiting for it" in line
    lease.release()
