"""`mtlbench rescore`: add metric families to the finished runs of a store from their stored predictions."""

from __future__ import annotations

from pathlib import Path

import click

from mtlbench.cli.options import models_dir_option
from mtlbench.metrics import ModelPaths
from mtlbench.runner.rescore import ADDED, NO_REPORTS, REFUSED, rescore_store


@click.command("rescore")
@click.argument("results", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--metrics",
    "metric_names",
    required=True,
    help="Metric families to add, comma-separated (`mtlbench list metrics`), e.g. bertscore,radgraph.",
)
@models_dir_option
def rescore_command(results: Path, metric_names: str, models_dir: Path | None) -> None:
    """Score every done run in RESULTS with more metric families, from its stored generated reports.

    Each run's examples.jsonl and metrics.json are rewritten atomically; its config, status and run
    id stay as they were. Runs that are not done are refused, one line each. Interrupted, the same
    command resumes: runs that already have the metrics are skipped, as are single-task runs of
    a task other than the report.
    """
    names = [name for name in metric_names.split(",") if name.strip()]
    outcomes = rescore_store(results, names, ModelPaths.from_env(root=models_dir), on_run=click.echo)
    added, skipped, refused = (sum(o.outcome == kind for o in outcomes) for kind in (ADDED, NO_REPORTS, REFUSED))
    had = len(outcomes) - added - skipped - refused
    click.echo(
        f"\n{added} runs rescored, {had} already had them, {skipped} write no reports (single-task), {refused} refused"
    )
