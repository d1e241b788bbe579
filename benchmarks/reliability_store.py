"""Reliability of the store under many writers, kills inside epochs and full disks (issue 17, part B).

Three experiments, each counting what the CI tests assert once or a few times:

- ``shared``: two grids started at the same time on one store, local + local and local +
  submitit's local executor, ``--repeats`` times each: runs trained more than once, runs
  missing, stores whose metrics or training logs differ from a single grid's, and how often a
  grid found a run held by the other.
- ``kill``: one run SIGKILLed at ``--kills`` random steps inside epochs (a checkpoint every
  ``--every`` steps), re-run after each kill: the steps each resume went back (at most the
  interval) and whether the final run equals the uninterrupted one (metrics and training log).
- ``disk``: a failing write at a random point of a 2-run grid, ``--repeats`` times injected at
  the store's write layer (ENOSPC that stays, or one EIO) and, when running as root where
  ``mount -t tmpfs`` works, ``--repeats`` times on a real tmpfs of random size (remounted
  larger afterwards to "free space"): files read as done that are not whole, runs lost, and
  whether the re-run ends as the undisturbed grid.

    .venv/bin/python benchmarks/reliability_store.py --out benchmarks/reliability_store.md
    .venv/bin/python benchmarks/reliability_store.py --experiments kill --kills 3   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "runner"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import grid_cli
import torch
from disk_faults import SPECS, DiskFault, check_store
from recording import load_average, machine, publish

import mtlbench.results
from mtlbench.errors import StoreUnwritable
from mtlbench.results import iter_runs, read_metrics, read_train_log
from mtlbench.runner.benchmark import run_benchmark
from mtlbench.runner.executors import LocalExecutor
from mtlbench.runner.executors.slurm import SlurmExecutor
from mtlbench.runner.spec import RunSpec

GRID = [*grid_cli.TINY_GRID, "--no-leaderboard", "--workers", "1"]


def _cli(args: list[str], cache: Path, cwd: Path) -> subprocess.Popen:
    return grid_cli.mtlbench_process(args, cache, cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def shared(repeats: int, cache: Path, work: Path) -> list[str]:
    reference = work / "single"
    single = grid_cli.run_mtlbench(["run", *GRID, "--results", str(reference)], cache, work)
    assert single.returncode == 0, single.stdout + single.stderr
    specs = [RunSpec.from_dict(run.spec) for run in iter_runs(reference)]
    rows = []
    for mode in ("local + local", "local + submitit local"):
        twice = missing = differ = held = failed_grids = 0
        started = time.perf_counter()
        for rep in range(repeats):
            results = work / f"{mode.replace(' ', '')}-{rep}"
            first = _cli(["run", *GRID, "--results", str(results)], cache, work)
            if mode == "local + local":
                second = _cli(["run", *GRID, "--results", str(results)], cache, work)
                outputs = [first.communicate()[0], second.communicate()[0]]
                failed_grids += sum(p.returncode != 0 for p in (first, second))
            else:
                executor = SlurmExecutor(work / f"submitit-{rep}", cluster="local", time_min=30, poll_s=0.2)
                captured = io.StringIO()
                with contextlib.redirect_stdout(captured):
                    run_benchmark(specs, results, executor)
                outputs = [first.communicate()[0], captured.getvalue()]
                failed_grids += first.returncode != 0
            held += sum(line.startswith("held") for out in outputs for line in out.splitlines())
            runs = list(iter_runs(results))
            twice += sum(run.status.get("attempts", 0) > 1 or run.status.get("completions", 0) > 1 for run in runs)
            missing += len(specs) - sum(run.state == "done" for run in runs)
            try:
                grid_cli.assert_trained_once_as_a_single_grid(results, reference)
            except AssertionError:
                differ += 1
            shutil.rmtree(results)
        seconds = time.perf_counter() - started
        rows.append(
            f"| {mode} | {repeats} | {repeats * len(specs)} | {twice} | {missing} | {differ} | {failed_grids} "
            f"| {held} | {seconds / repeats:.1f} |"
        )
    return [
        "## Two grids on one store at the same time",
        "",
        f"The tiny grid ({len(specs)} runs: ls, pcgrad, rlw; 2 epochs) started twice at once on one store, each",
        "grid with one worker. 'differ': stores whose runs are not each trained once (attempts = completions =",
        "1), or whose test metrics or training logs differ from a single grid's; 'held': lines where a grid",
        "met a run the other was training (it went on, then waited for it), in either grid's output.",
        "",
        "| grids | repetitions | runs | trained twice | missing | differ | grids failed | held lines "
        "| s / repetition |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]


def _log_steps(log: Path, attempt: int) -> int:
    """Steps done by attempt ``attempt`` (0: the first) as its log lines show; -1 before it logged its
    resume marker (lines of earlier attempts are not its progress)."""
    entries = []
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):  # the last line, cut by the kill
            entries.append(json.loads(line))
    markers = [i for i, entry in enumerate(entries) if entry.get("kind") == "resume"]
    if len(markers) < attempt:
        return -1
    since = markers[attempt - 1] + 1 if attempt else 0
    steps = [entry["step"] for entry in entries[since:] if entry.get("kind") == "step"]
    return max(steps, default=entries[since - 1]["step"] - 1 if attempt else -1) + 1


def kill(kills: int, every: int, cache: Path, work: Path) -> list[str]:
    args = [
        "run", "--methods", "rlw", "--seeds", "1", "--epochs", "2", "--batch-size", "8", "--no-meteor",
        "--data-opt", "synthetic.n_train=96", "--data-opt", "synthetic.n_val=8", "--data-opt", "synthetic.n_test=8",
        "--no-leaderboard", "--workers", "1",
    ]  # fmt: skip
    per_epoch, total = 12, 24
    reference = grid_cli.run_mtlbench([*args, "--results", "ref"], cache, work)
    assert reference.returncode == 0, reference.stderr
    results = work / "killed"
    rng = random.Random(17)
    points = sorted(rng.sample([s for s in range(every + 1, total) if s % per_epoch], kills))
    lost, killed_at = [], []
    for attempt, point in enumerate(points):
        proc = grid_cli.mtlbench_process(
            [*args, "--checkpoint-steps", str(every), "--results", str(results)],
            cache,
            work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        log = None
        while proc.poll() is None:
            logs = list(results.glob("runs/*/train_log.jsonl"))
            log = logs[0] if logs else None
            if log is not None and _log_steps(log, attempt) >= point:
                grid_cli.send_frozen(proc, signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait()
        assert log is not None and proc.returncode == -signal.SIGKILL, "the run ended before its kill point"
        killed_at.append(_log_steps(log, attempt))
    final = grid_cli.run_mtlbench([*args, "--checkpoint-steps", str(every), "--results", str(results)], cache, work)
    assert final.returncode == 0, final.stderr
    (run,) = iter_runs(results)
    (ref,) = iter_runs(work / "ref")
    resumes = [json.loads(line) for line in (run.path / "train_log.jsonl").read_text().splitlines()]
    resumes = [entry for entry in resumes if entry["kind"] == "resume"]
    lost = [done - resume["step"] for done, resume in zip(killed_at, resumes, strict=True)]
    same_metrics = read_metrics(run.path)["test"] == read_metrics(ref.path)["test"]
    same_log = read_train_log(run.path / "train_log.jsonl") == read_train_log(ref.path / "train_log.jsonl")
    return [
        "## SIGKILL at random points inside epochs",
        "",
        "One rlw run (random task weights from the method's stream, dropout, random crops and flips),",
        f"{per_epoch} steps an epoch, 2 epochs, a checkpoint every {every} steps (`--checkpoint-steps {every}`):",
        f"SIGKILLed (the whole process group, frozen first) once its log reached each of {kills} random steps",
        "inside epochs, then run again; after the last kill it runs to the end.",
        "",
        "| kill | steps done when killed | resumed at step | steps lost |",
        "|---:|---:|---:|---:|",
        *[
            f"| {i + 1} | {done} | {resume['step']} | {gone} |"
            for i, (done, resume, gone) in enumerate(zip(killed_at, resumes, lost))
        ],
        "",
        f"Most steps lost: {max(lost)} (the interval is {every}). Test metrics equal to the uninterrupted run's:",
        f"{'yes' if same_metrics else 'NO'}; training log (every step's losses and rlw's weights) equal: "
        f"{'yes' if same_log else 'NO'}; run trained to completion once: {run.status['completions'] == 1}.",
    ]


@contextlib.contextmanager
def _faults(fault: DiskFault) -> Iterator[None]:
    original = mtlbench.results._write
    mtlbench.results._write = fault
    try:
        yield
    finally:
        mtlbench.results._write = original


def _grid(results: Path, *, rerun_failed: bool = False) -> str:
    """Run the 2-run grid; '' or the one line that stopped it."""
    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            run_benchmark(SPECS, results, LocalExecutor(workers=1), rerun_failed=rerun_failed)
    except StoreUnwritable as err:
        return str(err)
    return ""


def _trial(results: Path, expected: dict, before_rerun: contextlib.AbstractContextManager) -> dict[str, int]:
    """After a disturbed grid in ``results``: count what it left, re-run it, count again."""
    counts = {"done before": 0, "failed": 0, "corrupt read as done": 0, "lost": 0, "rerun differs": 0}
    try:
        done = check_store(results, expected, 8)
    except (AssertionError, ValueError):
        counts["corrupt read as done"] += 1
        done = set()
    counts["done before"] = len(done)
    counts["failed"] = sum(run.state == "failed" for run in iter_runs(results))
    kept = {run_id: (results / "runs" / run_id / "metrics.json").read_bytes() for run_id in done}
    with before_rerun:
        _grid(results, rerun_failed=True)
    try:
        counts["rerun differs"] += check_store(results, expected, 8) != set(expected)
    except (AssertionError, ValueError):
        counts["rerun differs"] += 1
    counts["lost"] = sum(
        (results / "runs" / run_id / "metrics.json").read_bytes() != value for run_id, value in kept.items()
    )
    counts["lost"] += sum(run.status.get("completions", 0) > 1 for run in iter_runs(results))
    return counts


def _mount(point: Path, size_kb: int, remount: bool = False) -> bool:
    options = f"{'remount,' if remount else ''}size={size_kb}k"
    command = ["mount", "-o", options, point] if remount else ["mount", "-t", "tmpfs", "-o", options, "tmpfs", point]
    return subprocess.run(command, capture_output=True).returncode == 0


def disk(repeats: int, work: Path) -> list[str]:
    reference = work / "undisturbed"
    counting = DiskFault()
    with _faults(counting):
        assert _grid(reference) == ""
    expected = {run.run_id: read_metrics(run.path)["test"] for run in iter_runs(reference)}
    writes = counting.count
    store_kb = sum(p.stat().st_size for p in reference.rglob("*") if p.is_file()) // 1024
    size_kb = store_kb + 3 * counting.largest // 1024  # at most: the store, two checkpoints and one being written
    rng = random.Random(2017)
    rows = []
    kinds = {"injected (ENOSPC stays, or one EIO)": "injected"}
    point = work / "tmpfs"
    point.mkdir()
    if _mount(point, 64):
        subprocess.run(["umount", point], check=True)
        kinds["real tmpfs of random size"] = "tmpfs"
    for label, kind in kinds.items():
        totals: dict[str, int] = {}
        stopped = 0
        for rep in range(repeats):
            if kind == "injected":
                results = work / f"injected-{rep}"
                persistent = rng.random() < 0.5
                fault = DiskFault(
                    rng.randint(1, writes), errno.ENOSPC if persistent else errno.EIO, persistent=persistent
                )
                with _faults(fault):
                    stopped += bool(_grid(results))
                counts = _trial(results, expected, contextlib.nullcontext())
            else:
                capacity = rng.randint(8, size_kb)
                assert _mount(point, capacity), "tmpfs mount failed"
                try:
                    results = point / "results"
                    stopped += bool(_grid(results))

                    @contextlib.contextmanager
                    def freed() -> Iterator[None]:
                        assert _mount(point, 4 * size_kb + 1024, remount=True)
                        yield

                    counts = _trial(results, expected, freed())
                finally:
                    subprocess.run(["umount", point], check=True)
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
        rows.append(
            f"| {label} | {repeats} | {stopped} | {totals['done before']} | {totals['failed']} "
            f"| {totals['corrupt read as done']} | {totals['lost']} | {totals['rerun differs']} |"
        )
    return [
        "## Full disk: a failing write at a random point",
        "",
        f"A 2-run grid (ls, rlw; 2 epochs; {writes} store writes, {store_kb} KB of store when undisturbed, up to",
        f"{size_kb} KB with checkpoints; the tmpfs gets 8 KB to {size_kb} KB at random),",
        "disturbed once per repetition, then re-run with `--rerun-failed` (after 'freeing space': the fault",
        "removed, the tmpfs remounted larger). 'grid stopped': the store could not record a failure and the",
        "grid stopped in one line; 'runs failed': recorded as failed with their reason, the grid going on;",
        "'corrupt read as done': a run whose status says done while its metrics or examples are not whole",
        "and equal to the undisturbed grid's (or any JSON file of the store unreadable, or a temporary left);",
        "'lost': a run done before the fault that changed or was trained again; 'rerun differs': the",
        "re-run did not end with every run done with the undisturbed grid's metrics.",
        "",
        "| fault | repetitions | grid stopped | runs done before the re-run | runs failed | corrupt read as done "
        "| lost | rerun differs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]


class _Words:
    def decode(self, ids: object) -> str:
        return ""


def cost(repeats: int, work: Path) -> list[str]:
    """What one checkpoint costs: its size and the seconds to write (serialise, checksum, fsync,
    rename) and to read back (checksum verified), at both sizes of the transformer backbone."""
    from mtlbench.backbones import BACKBONES, TASKS, BackboneConfig
    from mtlbench.train.checkpoint import load_latest_checkpoint, save_checkpoint

    rows = []
    for size, image_size in (("tiny", 64), ("paper", 224)):
        config = BackboneConfig(vocab_size=4300, tasks=TASKS, size=size, image_size=image_size, num_views=2)
        model = BACKBONES.get("transformer")(config, _Words())
        optimizer = torch.optim.AdamW(model.parameters())
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        optimizer.step()  # its two moments per parameter exist, as after any step
        state = model.state_dict()
        payload = {
            "model": state,
            "best_state": {k: v.clone() for k, v in state.items()},
            "optimizer": optimizer.state_dict(),
        }
        latest = work / f"cost-{size}" / "checkpoint.pt"
        latest.parent.mkdir()
        writes, reads = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            save_checkpoint(latest, payload)
            writes.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            assert load_latest_checkpoint(latest, print) is not None
            reads.append(time.perf_counter() - t0)
        megabytes = latest.stat().st_size / 2**20
        rows.append(
            f"| transformer {size} | {model.num_parameters():,} | {megabytes:,.0f} | {min(writes):.2f} "
            f"| {max(writes):.2f} | {min(reads):.2f} | {100 * min(writes) / 900:.2f} % |"
        )
        del payload, optimizer, model, state
        shutil.rmtree(latest.parent)
    return [
        "## What a checkpoint costs",
        "",
        "One checkpoint as a run writes it (the model, the best weights so far, AdamW's two moments per",
        f"parameter; MIMIC-CXR's vocabulary of 4,300, 2 views), written and read back {repeats} times to",
        "the local disk; the overhead column is one write every 15 minutes (the default).",
        "",
        "| backbone | parameters | MB | write s (best) | write s (worst) | read + verify s (best) "
        "| overhead at 15 min |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", default="shared,kill,disk")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--every", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="mtlbench-reliability-"))
    cache = work / "cache"
    os.environ["MTLBENCH_CACHE"] = str(cache)
    command = "nice -n 10 .venv/bin/python benchmarks/reliability_store.py " + " ".join(sys.argv[1:])
    lines = [f"`{command}`", "", f"Machine: {machine()}; load average before: {load_average()}.", ""]
    started = time.perf_counter()
    try:
        for name in args.experiments.split(","):
            t0 = time.perf_counter()
            if name == "shared":
                lines += shared(args.repeats, cache, work)
            elif name == "kill":
                lines += kill(args.kills, args.every, cache, work)
            elif name == "disk":
                lines += disk(args.repeats, work)
            elif name == "cost":
                lines += cost(3, work)
            lines += ["", f"({name}: {time.perf_counter() - t0:.0f} s)", ""]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines.append(f"Load average after: {load_average()}; {time.perf_counter() - started:.0f} s in all.")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
