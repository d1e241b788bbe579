"""`mtlbench show RUN_ID`: one run's configuration, environment, curves, diagnostics and examples."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from mtlbench.stats.runview import RANKINGS, find_run, render_run


@click.command("show")
@click.argument("run_id")
@click.option(
    "--results",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=Path("results"),
    show_default=True,
    help="Result store that holds the run.",
)
@click.option(
    "--examples", type=click.IntRange(min=0), default=3, show_default=True, help="Best and worst examples each."
)
@click.option(
    "--by",
    type=click.Choice(list(RANKINGS)),
    default="cider",
    show_default=True,
    help="Per-example score that ranks the test examples.",
)
def show_command(run_id: str, results: Path, examples: int, by: str) -> None:
    """Show one run: RUN_ID, or a unique prefix of it (`mtlbench status` lists them).

    Its configuration and environment, training and validation curves per epoch with the mean
    task weights and gradient cosines, the method's diagnostics, its test figures, and its best
    and worst test examples side by side with the references and both sides' labels.
    """
    width = min(shutil.get_terminal_size((100, 24)).columns, 140)
    click.echo(render_run(find_run(results, run_id), examples=examples, by=by, width=width), nl=False)
