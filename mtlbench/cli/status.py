"""`mtlbench status`: what a result store holds, run by run state."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import click
from tabulate import tabulate

from mtlbench.errors import MtlbenchError
from mtlbench.results import DAMAGED, FAILED, TRAIN_LOG, RunRecord, iter_runs
from mtlbench.runner.progress import StoreWatch
from mtlbench.runner.store import TUNING_DIR


@click.command("status")
@click.argument("results", type=click.Path(path_type=Path), default=Path("results"))
@click.option(
    "--watch",
    is_flag=True,
    help="Follow the store while another process or a cluster fills it: a live board on a terminal, "
    "a line per change elsewhere; ends when every run has ended (Ctrl-C stops watching, not the runs).",
)
@click.option("--interval", type=float, default=2.0, show_default=True, help="--watch: seconds between scans.")
def status_command(results: Path, watch: bool, interval: float) -> None:
    """Summarise the grid in RESULTS: runs done, failed (with reasons), running or interrupted."""
    runs = list(iter_runs(results))
    trials = list(iter_runs(results / TUNING_DIR))
    if not runs and not trials:
        raise MtlbenchError(f"no runs in {results}; start a grid with `mtlbench run --results {results}`")
    if watch:
        if interval <= 0:
            raise MtlbenchError(f"--interval must be a positive number of seconds; got {interval}")
        StoreWatch(results, poll_s=interval).run()
        return
    table: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    for run in runs:
        spec = run.spec
        label = spec["method"] + (f"({spec['method_params']})" if spec.get("method_params") else "")
        table[(spec["dataset"], spec.get("backbone", "transformer"), label)][run.state] += 1
    rows = [
        [dataset, backbone, method, c["done"], c["failed"], c["running"], c["pending"]]
        for (dataset, backbone, method), c in sorted(table.items())
    ]
    click.echo(tabulate(rows, headers=["dataset", "backbone", "method", "done", "failed", "running*", "pending"]))
    totals = Counter(run.state for run in runs)
    click.echo(f"\n{len(runs)} runs: " + ", ".join(f"{n} {state}" for state, n in sorted(totals.items())))
    if trials:
        counts = Counter(trial.state for trial in trials)
        click.echo(f"tuning: {len(trials)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if totals["running"]:
        click.echo("* running: in progress, or interrupted (a re-run of the grid resumes them)")
    for run in runs:
        if run.state == "running":
            click.echo(f"running {_describe(run)}: {_where(run)}")
    for run in runs:
        if run.state in (FAILED, DAMAGED):
            click.echo(f"{run.state} {_describe(run)}: {run.status.get('reason')}")


def _describe(run: RunRecord) -> str:
    return f"{run.run_id} {run.spec['method']} seed={run.spec['seed']}"


def _where(run: RunRecord) -> str:
    """How far a running (or interrupted) run got, and which attempt on which machine."""
    epochs = run.spec.get("train", {}).get("epochs", "?")
    reached = 0
    log = run.path / TRAIN_LOG
    if log.is_file():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith('{"kind": "epoch"'):
                try:
                    reached = int(json.loads(line)["epoch"]) + 1
                except (ValueError, KeyError, TypeError):
                    continue
    status = run.status
    where = f"attempt {status.get('attempts', '?')} on {status.get('host', '?')} pid {status.get('pid', '?')}"
    job = status.get("scheduler_job")
    return f"epoch {reached}/{epochs} done, {where}" + (f", Slurm job {job}" if job else "")
