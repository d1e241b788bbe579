"""Wall clock of the default grid: sequential vs the local pool with 2 workers, side by side in one session.

Every measurement runs `mtlbench run` in a fresh result store on the same (already generated)
synthetic data, one torch thread per run (the default, which makes a run's numbers the same on
every executor): the sequential run is `--workers 1`, the pool `--workers 2`. With ``--repeats N`` the two
alternate (sequential first, then pool first, ...), so a change in the machine's load hits both
alike; the ratio reported is that of the medians. The script also checks that both executors
give the same metrics per run_id, and records the load average, since a shared machine's
timings are only as good as its quietness.

    .venv/bin/python benchmarks/runner_pool.py --out benchmarks/runner_pool.md
    .venv/bin/python benchmarks/runner_pool.py --repeats 3 -- --epochs 2    # options after -- go to `mtlbench run`
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(results: Path, workers: int, extra: list[str]) -> float:
    command = [sys.executable, "-m", "mtlbench", "run", "--results", str(results), "--workers", str(workers)]
    command += ["--no-leaderboard", *extra]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _metrics(results: Path) -> dict[str, dict]:
    return {
        run.name: json.loads((run / "metrics.json").read_text())["test"]
        for run in sorted((results / "runs").iterdir())
        if (run / "metrics.json").is_file()
    }


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the result as Markdown here")
    parser.add_argument("--repeats", type=int, default=1, help="measurements of each executor, alternating")
    parser.add_argument("extra", nargs="*", help="extra `mtlbench run` options (default: the default grid)")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"sequential": [], "pool": []}
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("MTLBENCH_CACHE", str(root / "cache"))
        _run(root / "warm", 1, [*args.extra, "--methods", "ls", "--seeds", "1", "--epochs", "1"])  # data made once
        same = True
        for repeat in range(args.repeats):
            order = [("sequential", 1), ("pool", 2)]
            for name, workers in order if repeat % 2 == 0 else order[::-1]:
                times[name].append(_run(root / f"{name}{repeat}", workers, args.extra))
            same &= _metrics(root / f"sequential{repeat}") == _metrics(root / f"pool{repeat}")
        n_runs = len(_metrics(root / "sequential0"))
    load_after = _load()
    sequential, pool = statistics.median(times["sequential"]), statistics.median(times["pool"])
    grid = "default grid" + (f" with `{' '.join(args.extra)}`" if args.extra else "")
    text = (
        f"{grid}: {n_runs} runs; {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}; load average (1/5/15 min) {load_before} before, {load_after} after.\n\n"
        "| executor | wall clock (s), each measurement | median (s) |\n|---|---|---|\n"
        f"| sequential (`--workers 1`) | {', '.join(f'{t:.1f}' for t in times['sequential'])} "
        f"| {sequential:.1f} |\n"
        f"| local pool (`--workers 2`) | {', '.join(f'{t:.1f}' for t in times['pool'])} | {pool:.1f} |\n\n"
        f"Ratio pool / sequential (medians): **{pool / sequential:.2f}**. "
        f"Identical metrics per run_id: {same}.\n"
    )
    print(text)
    if args.out:
        extra = f" -- {' '.join(args.extra)}" if args.extra else ""
        command = f".venv/bin/python benchmarks/runner_pool.py --out {args.out} --repeats {args.repeats}{extra}"
        args.out.write_text(f"# Local pool vs sequential\n\nCommand: `{command}`\n\n" + text)


if __name__ == "__main__":
    main()
