"""Run leases: exactly one holder under contention, stale leases taken over with a line, heartbeats,
and fencing (a process whose lease was taken over writes nothing more to the run)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from mtlbench.errors import MtlbenchError
from mtlbench.results import LEASE, STATUS
from mtlbench.runner.lease import HELD, Holder, Lease, LeaseLost, LeaseSettings, current_holder
from mtlbench.runner.run_one import run_one
from mtlbench.runner.spec import RunSpec

FAST = LeaseSettings(ttl_s=1.0, heartbeat_s=0.1)


def _plant(folder: Path, *, age_s: float, **owner: object) -> None:
    """A lease file as another process (another host, unless said) left it ``age_s`` seconds ago."""
    folder.mkdir(parents=True, exist_ok=True)
    content = {"token": "theirs", "host": "node-7", "pid": 4242, "machine": "another-boot/pid:[1]", "ttl_s": 1.0}
    (folder / LEASE).write_text(json.dumps(content | owner))
    stamp = time.time() - age_s
    os.utime(folder / LEASE, (stamp, stamp))


def _contend(folder: Path, n: int) -> list[Lease | Holder]:
    """``n`` threads acquire the same lease at the same instant."""
    barrier = threading.Barrier(n)
    got: list[Lease | Holder] = []

    def one() -> None:
        barrier.wait()
        got.append(Lease.acquire(folder, FAST, say=lambda line: None))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got


def test_one_holder_at_a_time_and_released_leases_are_free_again(tmp_path: Path) -> None:
    first = Lease.acquire(tmp_path, FAST)
    assert isinstance(first, Lease) and first.holds()
    second = Lease.acquire(tmp_path, FAST)
    assert isinstance(second, Holder) and second.owner["pid"] == os.getpid()
    assert f"pid {os.getpid()} on " in second.describe()
    assert current_holder(tmp_path, FAST) is not None
    first.release()
    assert not (tmp_path / LEASE).exists() and current_holder(tmp_path, FAST) is None
    again = Lease.acquire(tmp_path, FAST)
    assert isinstance(again, Lease)
    again.release()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary or claim file left


@pytest.mark.parametrize("stale", [False, True])
def test_under_contention_exactly_one_process_wins(tmp_path: Path, stale: bool) -> None:
    for trial in range(30):
        folder = tmp_path / str(trial)
        if stale:
            _plant(folder, age_s=5.0)
        got = _contend(folder, 8)
        winners = [g for g in got if isinstance(g, Lease)]
        assert len(winners) == 1, trial
        assert winners[0].holds()
        assert json.loads((folder / LEASE).read_text())["token"] == winners[0].owner["token"]
        assert {p.name for p in folder.iterdir()} == {LEASE}


def test_a_stale_lease_is_taken_over_after_its_expiry_with_a_line(tmp_path: Path) -> None:
    _plant(tmp_path, age_s=0.2)
    assert isinstance(Lease.acquire(tmp_path, FAST), Holder)  # alive: heartbeat 0.2 s ago, expiry 1 s
    _plant(tmp_path, age_s=1.5)
    lines: list[str] = []
    lease = Lease.acquire(tmp_path, FAST, say=lines.append)
    assert isinstance(lease, Lease)
    assert len(lines) == 1 and "took over the lease of pid 4242 on node-7" in lines[0]


def test_a_dead_process_on_this_machine_is_taken_over_at_once(tmp_path: Path) -> None:
    mine = Lease.acquire(tmp_path / "probe", FAST)
    assert isinstance(mine, Lease)
    machine = mine.owner["machine"]
    mine.release()
    if not machine:
        pytest.skip("no /proc: leases of dead processes on this machine wait for their expiry")
    _plant(tmp_path / "run", age_s=0.0, machine=machine, pid=os.getpid(), process_start="not this process")
    lines: list[str] = []
    assert isinstance(Lease.acquire(tmp_path / "run", FAST, say=lines.append), Lease) and lines


def test_heartbeats_keep_a_lease_alive_and_a_holder_taken_over_is_fenced(tmp_path: Path) -> None:
    lease = Lease.acquire(tmp_path, FAST)
    assert isinstance(lease, Lease)
    lease.start_heartbeat()
    time.sleep(2.5 * FAST.ttl_s)  # well past the expiry: only the heartbeats keep it
    assert isinstance(Lease.acquire(tmp_path, FAST), Holder)
    lease.check()
    lease.fence()
    # the holder stalls (its heartbeat stops) past the expiry, and another process takes over
    lease._stop.set()
    lease._thread.join()  # type: ignore[union-attr]
    time.sleep(FAST.ttl_s + 0.2)
    taker = Lease.acquire(tmp_path, FAST, say=lambda line: None)
    assert isinstance(taker, Lease)
    with pytest.raises(LeaseLost, match="another process took over"):
        lease.fence()
    lease.release()  # does not remove the new holder's lease
    assert taker.holds()
    taker.release()


def test_a_lease_lost_while_running_is_noticed_by_the_heartbeat(tmp_path: Path) -> None:
    lease = Lease.acquire(tmp_path, FAST)
    assert isinstance(lease, Lease)
    lease.start_heartbeat()
    _plant(tmp_path, age_s=0.0, token="a-new-holder")  # as a takeover after a stall would leave it
    deadline = time.monotonic() + 5.0
    while not lease.lost and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(LeaseLost):
        lease.check()
    lease.release()
    assert json.loads((tmp_path / LEASE).read_text())["token"] == "a-new-holder"


def test_bad_lease_settings_are_refused() -> None:
    with pytest.raises(MtlbenchError, match="shorter than its expiry"):
        LeaseSettings(ttl_s=1.0, heartbeat_s=2.0)


def test_run_one_leaves_a_run_held_by_a_live_process_alone(tmp_path: Path) -> None:
    spec = RunSpec(method="ls", dataset="synthetic", seed=0)
    folder = tmp_path / "runs" / spec.run_id
    _plant(folder, age_s=0.0, ttl_s=300.0)
    assert run_one(spec, tmp_path) == HELD
    assert not (folder / STATUS).exists()  # nothing written: the run is its holder's
