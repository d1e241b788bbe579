"""Run leases: one process trains a run at a time, whichever grids (local, Ray, Slurm) share a store.

A lease is the file ``lease.json`` in the run's folder: who holds it (a random token, host,
pid, the process's start time, its Slurm job) and its time to live. Shared filesystems (NFS
included) give two operations that are atomic across hosts, and the lease uses only those:

- **create**: the content is written whole to a private temporary file, which is then
  hard-linked to ``lease.json`` (``link`` fails if the name exists: exactly one process wins);
- **rename**: a stale lease is replaced by ``rename``, after the taker has claimed the right to
  replace that very lease by creating ``lease.json.takeover.<its token>``, again by ``link``.

No ``flock``/``fcntl`` lock is used: those do not hold across hosts on many shared filesystems.

The heartbeat is the file's modification time: a background thread of the holder checks every
``heartbeat_s`` that the lease still carries its token and touches it. Touching (rather than
rewriting) means a late heartbeat can never bring back a lease someone else has taken over. A
lease not touched for ``ttl_s`` is stale (its holder died, or lost its disk): the next process
takes it over and says so in one line. On the holder's own machine a lease whose process is
gone (same boot and pid namespace, and that pid is not the same process) is stale at once, so a
grid re-run right after a kill resumes without waiting. Hosts sharing a store must have clocks
that agree to well within ``ttl_s`` (NTP), as every lease-on-mtime scheme requires.

Fencing: a holder whose heartbeat finds its token gone (taken over after it stalled for longer
than ``ttl_s``) marks the lease lost; :meth:`Lease.check` then raises :class:`LeaseLost` before
the next training step or checkpoint, and the final status write checks the file once more, so
the run's results are never written over the new holder's.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtlbench.errors import MtlbenchError
from mtlbench.results import LEASE, write_file_atomically

TAKEOVER = ".takeover."
HELD = "held"
"""The outcome of a job whose run another live process holds: not run here, not failed."""


class LeaseLost(MtlbenchError):
    """This process's lease on a run passed to another process: it must stop writing the run."""


@dataclass(frozen=True)
class LeaseSettings:
    """``ttl_s``: a lease untouched this long is stale; ``heartbeat_s``: how often the holder touches it.

    Five minutes outlive any pause of a healthy process (a long garbage collection, a slow
    shared filesystem, a suspended laptop shorter than that) while a dead process's run waits
    at most that long on another host (on its own host it is taken over at once).
    """

    ttl_s: float = 300.0
    heartbeat_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_s < self.ttl_s:
            raise MtlbenchError(
                f"lease heartbeat ({self.heartbeat_s} s) must be positive and shorter than its expiry ({self.ttl_s} s)"
            )


DEFAULT_LEASE = LeaseSettings()


@dataclass(frozen=True)
class Holder:
    """Who holds a lease that is not ours, as its file says."""

    owner: dict[str, Any]
    age_s: float

    def describe(self) -> str:
        job = f", Slurm job {self.owner['scheduler_job']}" if self.owner.get("scheduler_job") else ""
        return f"pid {self.owner.get('pid')} on {self.owner.get('host')}{job}, heartbeat {self.age_s:.0f} s ago"


def _boot_id() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return ""


def _pid_namespace() -> str:
    with contextlib.suppress(OSError):
        return os.readlink("/proc/self/ns/pid")
    return ""


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _machine() -> str:
    """This boot of this machine, as its processes see it: pids compare only within one."""
    boot, namespace = _boot_id(), _pid_namespace()
    return f"{boot}/{namespace}" if boot and namespace else ""


def scheduler_job() -> str | None:
    """The Slurm job (array task) running this process, to find its logs; None outside Slurm."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


def _owner(settings: LeaseSettings) -> dict[str, Any]:
    return {
        "token": uuid.uuid4().hex,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process_start": _process_start(os.getpid()),
        "machine": _machine(),
        "scheduler_job": scheduler_job(),
        "acquired": time.time(),
        "ttl_s": settings.ttl_s,
        "heartbeat_s": settings.heartbeat_s,
    }


def _read(path: Path) -> tuple[dict[str, Any], float] | None:
    """(owner, age in seconds) of a lease file; None if there is none. A damaged one reads as an owner
    with no token, so it goes stale and is taken over like a dead process's."""
    try:
        age = time.time() - path.stat().st_mtime
        owner = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:  # not JSON (written by hand, or damaged)
        owner = {}
    return (owner if isinstance(owner, dict) else {}), age


def _process_gone(owner: dict[str, Any]) -> bool:
    """Whether the holder certainly no longer runs: it ran on this machine and its pid is free or reused."""
    machine, pid = owner.get("machine"), owner.get("pid")
    if not machine or machine != _machine() or not isinstance(pid, int):
        return False
    return _process_start(pid) != owner.get("process_start")


def _stale(owner: dict[str, Any], age_s: float, settings: LeaseSettings) -> bool:
    ttl = owner.get("ttl_s")
    ttl = float(ttl) if isinstance(ttl, int | float) and ttl > 0 else settings.ttl_s
    return age_s > ttl or _process_gone(owner)


def current_holder(folder: Path, settings: LeaseSettings = DEFAULT_LEASE) -> Holder | None:
    """Who holds the run's lease now; None if nobody does or the lease is stale."""
    found = _read(Path(folder) / LEASE)
    if found is None or _stale(*found, settings):
        return None
    return Holder(*found)


class Lease:
    """A lease this process holds on one run folder; :meth:`acquire` makes one."""

    def __init__(self, path: Path, owner: dict[str, Any], settings: LeaseSettings) -> None:
        self.path = path
        self.owner = owner
        self.settings = settings
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def acquire(
        cls, folder: Path, settings: LeaseSettings = DEFAULT_LEASE, say: Callable[[str], None] = print
    ) -> Lease | Holder:
        """The run's lease if no live process holds it (a stale one is taken over, with a line
        through ``say``); otherwise who holds it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / LEASE
        owner = _owner(settings)
        mine = folder / f".{LEASE}.{owner['token']}.tmp"
        write_file_atomically(mine, [json.dumps(owner, indent=2).encode()])
        try:
            for _ in range(5):  # each turn either ends or sees the lease change hands
                if _link(mine, path):
                    return cls(path, owner, settings)
                found = _read(path)
                if found is None:
                    continue  # released meanwhile: try again
                holder, age = found
                if not _stale(holder, age, settings):
                    return Holder(holder, age)
                if _take_over(path, mine, holder, settings):
                    why = "that process is gone" if _process_gone(holder) else "past its expiry"
                    say(f"{folder.name}: took over the lease of {Holder(holder, age).describe()}: {why}")
                    return cls(path, owner, settings)
            found = _read(path)
            return Holder(*found) if found is not None else Holder({}, 0.0)
        finally:
            mine.unlink(missing_ok=True)

    def start_heartbeat(self) -> Lease:
        """Touch the lease every ``heartbeat_s`` from a background thread until :meth:`release`."""
        self._thread = threading.Thread(target=self._beat, name=f"mtlbench-lease-{self.path.parent.name}", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(self.settings.heartbeat_s):
            try:
                if not self.holds():
                    self.lost = "another process took over its lease (this one stalled for longer than the expiry)"
                    return
                os.utime(self.path)
                last_ok = time.monotonic()
            except OSError as err:  # the store is unreachable: the lease cannot be kept for long
                if time.monotonic() - last_ok > self.settings.ttl_s:
                    self.lost = f"its lease could not be renewed for {self.settings.ttl_s:.0f} s ({err})"
                    return

    def holds(self) -> bool:
        """Whether the lease file still carries this process's token (read from the store now)."""
        found = _read(self.path)
        return found is not None and found[0].get("token") == self.owner["token"]

    def check(self) -> None:
        """Raise :class:`LeaseLost` if the heartbeat found the lease gone (cheap: no file access)."""
        if self.lost:
            raise LeaseLost(f"{self.path.parent.name}: stopped: {self.lost}")

    def fence(self) -> None:
        """Raise :class:`LeaseLost` unless the lease file still carries this process's token: the
        last check before writing the run's final status."""
        self.check()
        if not self.holds():
            raise LeaseLost(f"{self.path.parent.name}: stopped: another process took over its lease")

    def release(self) -> None:
        """Stop the heartbeat and remove the lease if it is still this process's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(OSError):
            if self.holds():
                self.path.unlink()


def _link(source: Path, name: Path) -> bool:
    """Create ``name`` as a hard link to ``source``: False if it exists. On NFS a retransmitted
    link can report EEXIST although it succeeded: the link count of ``source`` tells."""
    try:
        os.link(source, name)
        return True
    except FileExistsError:
        return os.stat(source).st_nlink == 2


def _take_over(path: Path, mine: Path, stale: dict[str, Any], settings: LeaseSettings) -> bool:
    """Replace the stale lease ``stale`` by ours (``mine``), unless another process is doing so or
    the lease changed hands meanwhile. Only the process that creates the takeover claim for this
    very lease may replace it; a claim left by a process that died while taking over goes stale."""
    claim = path.with_name(f"{path.name}{TAKEOVER}{stale.get('token') or 'damaged'}")
    if not _link(mine, claim):
        found = _read(claim)
        if found is None or found[1] <= settings.ttl_s:
            return False  # another process is taking this lease over
        claim.unlink(missing_ok=True)  # its taker died while taking over: try once more
        if not _link(mine, claim):
            return False
    try:
        found = _read(path)
        if found is None or found[0].get("token") != stale.get("token") or not _stale(*found, settings):
            return False  # it changed hands (or was renewed) since we read it
        os.replace(mine, path)
        return True
    finally:
        claim.unlink(missing_ok=True)
