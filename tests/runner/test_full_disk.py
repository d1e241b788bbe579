"""A full or failing disk: the run stops as failed with its reason (or, when the store cannot even
record that, the grid stops in one line), earlier files stay whole, nothing half-written reads as
done, and a re-run finishes the grid with the numbers of an undisturbed one.

The faults are injected at the store's write layer (tests/runner/disk_faults.py); the benchmark
``benchmarks/reliability_faults.py`` repeats this 20 times and also fills a real tmpfs."""

from __future__ import annotations

import errno
import random
from pathlib import Path

import pytest
from disk_faults import SPECS, DiskFault, check_store

import mtlbench.results
from mtlbench.errors import StoreUnwritable
from mtlbench.results import iter_runs, read_metrics
from mtlbench.runner.benchmark import run_benchmark
from mtlbench.runner.executors import LocalExecutor

pytestmark = pytest.mark.usefixtures("one_thread")


def _grid(results: Path, fault: DiskFault, monkeypatch: pytest.MonkeyPatch, *, rerun_failed: bool = False) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(mtlbench.results, "_write", fault)
        run_benchmark(SPECS, results, LocalExecutor(workers=1), rerun_failed=rerun_failed)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, int]:
    """Test metrics of the undisturbed grid, and how many store writes it makes."""
    results = tmp_path_factory.mktemp("reference")
    fault = DiskFault()
    with pytest.MonkeyPatch.context() as patch:
        _grid(results, fault, patch)
    return {run.run_id: read_metrics(run.path)["test"] for run in iter_runs(results)}, fault.count


@pytest.mark.slow
@pytest.mark.parametrize(
    ("code", "persistent", "draw"),
    [(errno.ENOSPC, True, 0), (errno.ENOSPC, True, 1), (errno.ENOSPC, False, 2), (errno.EIO, False, 3)],
)
def test_a_failing_write_at_a_random_point_loses_nothing(
    reference: tuple[dict, int], code: int, persistent: bool, draw: int, tmp_path: Path, monkeypatch
) -> None:
    expected, writes = reference
    at = random.Random(f"full-disk-{draw}").randint(1, writes)
    try:
        _grid(tmp_path, DiskFault(at, code, persistent=persistent), monkeypatch)
    except StoreUnwritable as err:  # the store could not even record the failure: the grid stopped
        assert "\n" not in str(err) and "run the same command again" in str(err)
    done_before = check_store(tmp_path, expected, 8)
    kept = {run_id: (tmp_path / "runs" / run_id / "metrics.json").read_bytes() for run_id in done_before}
    failed = [run for run in iter_runs(tmp_path) if run.state == "failed"]
    for run in failed:
        assert run.status["reason"].startswith(f"[Errno {code}]"), run.status["reason"]
    _grid(tmp_path, DiskFault(), monkeypatch, rerun_failed=True)
    assert check_store(tmp_path, expected, 8) == set(expected)
    for run in iter_runs(tmp_path):
        assert run.status["completions"] == 1  # a run done before the fault was not lost, nor redone
    assert all((tmp_path / "runs" / run_id / "metrics.json").read_bytes() == kept[run_id] for run_id in kept)


def test_a_read_only_store_stops_the_grid_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StoreUnwritable, match=r"cannot write to the result store .*Read-only file system"):
        _grid(tmp_path, DiskFault(1, errno.EROFS), monkeypatch)


def test_a_done_status_without_its_files_is_not_done(tmp_path: Path) -> None:
    from mtlbench.results import DAMAGED, METRICS, STATUS, atomic_write_json
    from mtlbench.runner.store import ResultStore

    store = ResultStore(tmp_path)
    spec = SPECS[0]
    store.register([spec])
    atomic_write_json(store.path(spec.run_id) / STATUS, {"state": "done"})
    assert store.state(spec.run_id) == DAMAGED and store.todo([spec]) == [spec]
    assert not (store.path(spec.run_id) / METRICS).exists()
