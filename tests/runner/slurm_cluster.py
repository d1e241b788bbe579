"""A real one-node Slurm cluster for the tests, from Debian's slurm-wlm and munge packages.

Everything the cluster writes (munge key and socket, slurm.conf, state, spool, logs) lives in
one temporary folder, on free ports, so it touches nothing of the machine's own configuration;
the daemons run in the foreground as our children and are stopped by their process ids.
``SLURM_CONF`` points the Slurm commands (and the jobs' ``srun``) at this cluster.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")


class Unavailable(Exception):
    """Why a real Slurm cluster cannot be set up here (the tests skip with this reason)."""


@dataclass
class Cluster:
    folder: Path
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)

    def command(self, *args: str) -> str:
        return subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=60, check=True).stdout

    def stop(self) -> None:
        """Cancel what is left, then stop the daemons we started, by their pids, newest first."""
        if self.processes:
            subprocess.run(["scancel", "--user", "root"], env=self.env, capture_output=True, timeout=30, check=False)
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.is_file() else ""


def ensure_packages() -> None:
    """Install slurm-wlm and munge with apt-get when their daemons are missing (root only)."""
    if all(shutil.which(d) for d in DAEMONS):
        return
    if os.geteuid() != 0:
        raise Unavailable("a real Slurm test needs root to install and run slurm-wlm and munge")
    if shutil.which("apt-get") is None:
        raise Unavailable("a real Slurm test needs apt-get to install slurm-wlm and munge (Debian/Ubuntu)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:  # package lists may be missing or stale on a fresh machine
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600, check=False)
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0 or not all(shutil.which(d) for d in DAEMONS):
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
        raise Unavailable(f"could not install {' '.join(PACKAGES)} with apt-get: {tail[0]}")


def start(folder: Path, *, timeout_s: float = 90.0) -> Cluster:
    """Start munged, slurmctld and slurmd on this machine and wait until the node is idle."""
    if os.geteuid() != 0:
        raise Unavailable("a real Slurm test runs the Slurm daemons as root; not root here")
    ensure_packages()
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    host = socket.gethostname().split(".")[0]
    ctld_port, slurmd_port = _free_port(), _free_port()
    conf = folder / "slurm.conf"
    conf.write_text(_slurm_conf(folder, host, ctld_port, slurmd_port))
    env = dict(os.environ, SLURM_CONF=str(conf))
    cluster = Cluster(folder, env)
    try:
        munged = [
            "munged", "--foreground", "--force", f"--socket={folder / 'munge.socket'}", f"--key-file={key}",
            f"--pid-file={folder / 'munged.pid'}", f"--log-file={folder / 'munged.log'}",
            f"--seed-file={folder / 'munge.seed'}",
        ]  # fmt: skip
        cluster.processes.append(_daemon(munged, env, folder / "munged.out"))
        _wait_for(lambda: (folder / "munge.socket").exists(), 20, "munged did not create its socket", cluster)
        cluster.processes.append(_daemon(["slurmctld", "-D", "-c", "-f", str(conf)], env, folder / "slurmctld.out"))
        cluster.processes.append(_daemon(["slurmd", "-D", "-f", str(conf), "-N", host], env, folder / "slurmd.out"))
        _wait_for(lambda: _node_state(cluster) == "idle", timeout_s, "the Slurm node never became idle", cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _slurm_conf(folder: Path, host: str, ctld_port: int, slurmd_port: int) -> str:
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return f"""\
ClusterName=mtlbenchtest
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder / "munge.socket"},cred_expire=10
StateSaveLocation={folder / "state"}
SlurmdSpoolDir={folder / "spool"}
SlurmctldPidFile={folder / "slurmctld.pid"}
SlurmdPidFile={folder / "slurmd.pid"}
SlurmctldLogFile={folder / "slurmctld.log"}
SlurmdLogFile={folder / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
MpiDefault=none
ReturnToService=2
KillWait=1
MinJobAge=300
NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} RealMemory={max(memory_mb // 2, 256)} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _daemon(command: list[str], env: dict[str, str], out: Path) -> subprocess.Popen:
    with open(out, "wb") as handle:
        return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def _node_state(cluster: Cluster) -> str:
    try:
        return cluster.command("sinfo", "--noheader", "--format=%t").strip()
    except (subprocess.SubprocessError, OSError):
        return ""


def _wait_for(ready: object, timeout_s: float, what: str, cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        dead = [p for p in cluster.processes if p.poll() is not None]
        if dead:
            break
        time.sleep(0.5)
    logs = " | ".join(f"{d}: {cluster.log(d)[-400:]}" for d in DAEMONS if cluster.log(d))
    raise RuntimeError(f"{what}; {logs or 'no daemon logs'}")  # installed but broken: a failure, not a skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
