"""`mtlbench run --plan` against the measured wall clock of the same grid, side by side in one session.

For each grid (default: the default grid, ls and pcgrad x 3 seeds x 20 epochs on synthetic data),
in a fresh result store: `mtlbench run ... --plan` (its estimate of the grid's wall clock), then
`mtlbench run ...` (leaderboard included) timed from the command's start to its end. The synthetic
data and its image cache are made once first, so both see the same warm state. Options after
`--` go to both commands.

    .venv/bin/python benchmarks/runner_plan.py --out benchmarks/runner_plan.md
    .venv/bin/python benchmarks/runner_plan.py -- --epochs 5 --methods ls,cagrad
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recording import load_average, machine, publish  # beside this script, as mimic_shaped

UNITS = {"h": 3600, "m": 60, "s": 1}


def seconds(text: str) -> float:
    """'1h02m', '4m07s', '38s' -> seconds."""
    return sum(int(n) * UNITS[u] for n, u in re.findall(r"(\d+)([hms])", text))


def _mtlbench(args: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mtlbench", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"mtlbench {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("extra", nargs="*", help="extra `mtlbench run` options (default: the default grid)")
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("MTLBENCH_CACHE", str(root / "cache"))
        _mtlbench(["run", *args.extra, "--results", "warm", "--methods", "ls", "--seeds", "1", "--epochs", "1"], root)
        plan_s, plan = _mtlbench(["run", *args.extra, "--results", "grid", "--plan"], root)
        load_between = load_average()
        run_s, _ = _mtlbench(["run", *args.extra, "--results", "grid"], root)  # as a user runs it: leaderboard too
    load_after = load_average()
    estimate = seconds(re.search(r"whole grid: about (\S+) of wall clock", plan).group(1))  # type: ignore[union-attr]
    table = "\n".join(line for line in plan.splitlines())
    lines = [
        "# `--plan` against the measured grid",
        "",
        f"Command: `.venv/bin/python benchmarks/runner_plan.py {' '.join(sys.argv[1:])}`",
        "",
        f"{machine()}; load "
        f"average (1/5/15 min) {load_before} before the plan, {load_between} before the grid, {load_after} after.",
        "",
        f"The plan took {plan_s:.0f} s and printed:",
        "",
        "```",
        table,
        "```",
        "",
        f"Estimated wall clock {estimate:.0f} s; measured `mtlbench run` {run_s:.0f} s: estimate / measured = "
        f"**{estimate / run_s:.2f}** ({100 * (estimate - run_s) / run_s:+.0f} %).",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
