"""Wall clock of the default grid: sequential vs the local pool with 2 workers, in one session.

Both runs use fresh result stores and the same (already generated) synthetic data; the
sequential run uses all cores' torch threads in one process, the pool splits them between
its workers (cores // workers threads each). The script also checks that both give the
same metrics per run_id.

    .venv/bin/python benchmarks/runner_pool.py --out benchmarks/runner_pool.md
"""

from __future__ import annotations

import argparse
import json
import os
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("extra", nargs="*", help="extra `mtlbench run` options (default: the default grid)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("MTLBENCH_CACHE", str(root / "cache"))
        _run(root / "warm", 1, ["--methods", "ls", "--seeds", "1", "--epochs", "1"])  # data generated once
        sequential = _run(root / "sequential", 1, args.extra)
        pool = _run(root / "pool", 2, args.extra)
        same = _metrics(root / "sequential") == _metrics(root / "pool")
        n_runs = len(_metrics(root / "sequential"))
    text = (
        f"Default grid ({n_runs} runs{', ' + ' '.join(args.extra) if args.extra else ''}), "
        f"{os.cpu_count()} cores:\n\n"
        f"| executor | wall clock (s) |\n|---|---|\n| sequential (1 process) | {sequential:.1f} |\n"
        f"| local pool, 2 workers | {pool:.1f} |\n\n"
        f"Ratio pool / sequential: **{pool / sequential:.2f}**. Identical metrics per run_id: {same}.\n"
    )
    print(text)
    if args.out:
        args.out.write_text(
            "# Local pool vs sequential\n\nCommand: `.venv/bin/python benchmarks/runner_pool.py "
            f"--out {args.out}{' ' + ' '.join(args.extra) if args.extra else ''}`\n\n" + text
        )


if __name__ == "__main__":
    main()
