"""Long fuzz run of every input reader: N hostile inputs each, every traceback counted.

The same targets and strategies as the CI-sized tests (tests/fuzz/hostile.py), run far longer
and without stopping at the first breach. A breach is any exception other than MtlbenchError,
or an error message of several lines; the run prints each distinct one (with its traceback) and
a table of inputs, accepted, refused and tracebacks per reader, ready for reliability.md.

    .venv/bin/python benchmarks/reliability_fuzz.py --inputs 10000
    .venv/bin/python benchmarks/reliability_fuzz.py --inputs 200 --readers grid,labels   # a quick look
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fuzz"))

import hostile
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st


def fuzz(reader: str, inputs: int, rng_seed: int) -> tuple[hostile.Outcome, float]:
    outcome = hostile.Outcome(collect=True)
    root = Path(tempfile.mkdtemp(prefix=f"mtlbench-fuzz-{reader}-"))
    target = hostile.make_target(reader, root)

    @seed(rng_seed)
    @settings(
        max_examples=inputs,
        database=None,
        deadline=None,
        phases=[Phase.generate],  # count breaches instead of stopping to shrink the first one
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        target(outcome, data)
        if outcome.inputs % 1000 == 0:
            print(f"  {reader}: {outcome.inputs} inputs, {len(outcome.breaches)} tracebacks", flush=True)

    started = time.perf_counter()
    try:
        run()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return outcome, time.perf_counter() - started


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return f"load average: {os.getloadavg()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=10_000, help="hostile inputs per reader")
    parser.add_argument(
        "--readers", default=",".join(hostile.READERS), help=f"comma-separated, of {', '.join(hostile.READERS)}"
    )
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    readers = [r.strip() for r in args.readers.split(",") if r.strip()]
    unknown = sorted(set(readers) - set(hostile.READERS))
    if unknown:
        parser.error(f"unknown readers {unknown}; choose from {', '.join(hostile.READERS)}")
    print(f"uptime before: {_uptime()}", flush=True)
    rows = []
    for reader in readers:
        outcome, seconds = fuzz(reader, args.inputs, args.seed)
        rows.append((reader, outcome, seconds))
        print(f"{reader}: {hostile.describe(outcome)} ({seconds:.0f} s)", flush=True)
        seen: set[str] = set()
        for breach in outcome.breaches:
            key = breach.strip().splitlines()[-1][:200]
            if key not in seen:
                seen.add(key)
                print(f"--- {reader} breach ---\n{breach}", flush=True)
    print(f"uptime after: {_uptime()}")
    print("\n| reader | inputs | accepted | refused (one-line MtlbenchError) | tracebacks | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for reader, outcome, seconds in rows:
        print(
            f"| {reader} | {outcome.inputs} | {outcome.accepted} | {outcome.refused} | {len(outcome.breaches)} "
            f"| {seconds:.0f} |"
        )
    if any(outcome.breaches for _, outcome, _ in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
