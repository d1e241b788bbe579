"""`mtlbench status`: what a result store holds, run by run state."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import click
from tabulate import tabulate

from mtlbench.errors import MtlbenchError
from mtlbench.results import iter_runs


@click.command("status")
@click.argument("results", type=click.Path(path_type=Path), default=Path("results"))
def status_command(results: Path) -> None:
    """Summarise the grid in RESULTS: runs done, failed (with reasons) and interrupted."""
    runs = list(iter_runs(results))
    if not runs:
        raise MtlbenchError(f"no runs in {results}; start a grid with `mtlbench run --results {results}`")
    table: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    for run in runs:
        spec = run.spec
        label = spec["method"] + (f"({spec['method_params']})" if spec.get("method_params") else "")
        table[(spec["dataset"], spec["backbone"], label)][run.state] += 1
    rows = [
        [dataset, backbone, method, c["done"], c["failed"], c["running"], c["pending"]]
        for (dataset, backbone, method), c in sorted(table.items())
    ]
    click.echo(tabulate(rows, headers=["dataset", "backbone", "method", "done", "failed", "running*", "pending"]))
    totals = Counter(run.state for run in runs)
    click.echo(f"\n{len(runs)} runs: " + ", ".join(f"{n} {state}" for state, n in sorted(totals.items())))
    if totals["running"]:
        click.echo("* running: in progress, or interrupted (a re-run of the grid resumes them)")
    for run in runs:
        if run.state == "failed":
            click.echo(f"failed {run.run_id} {run.spec['method']} seed={run.spec['seed']}: {run.status.get('reason')}")
