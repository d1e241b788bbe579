"""`mtlbench report`: significance-tested leaderboards of a result store."""

from __future__ import annotations

from pathlib import Path

import click

from mtlbench.stats import Settings, render_leaderboard, write_leaderboards


@click.command("report")
@click.argument("results", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--baseline", default="ls", show_default=True, help="Method every other one is tested against.")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Write all formats as OUT.{txt,md,tex,csv,html}."
)
@click.option(
    "--format", "fmt", type=click.Choice(["terminal", "markdown", "latex", "csv", "html"]), default="terminal"
)
@click.option("--test", type=click.Choice(["bootstrap", "seeds"]), default="bootstrap", show_default=True)
@click.option("--correction", type=click.Choice(["holm", "bh"]), default="holm", show_default=True)
@click.option("--alpha", type=float, default=0.05, show_default=True)
@click.option("--resamples", type=int, default=Settings.resamples, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the resampling.")
def report_command(
    results: Path,
    baseline: str,
    out: Path | None,
    fmt: str,
    test: str,
    correction: str,
    alpha: float,
    resamples: int,
    seed: int,
) -> None:
    """Print the leaderboard of RESULTS; with --out, also write every format.

    Within each cell (dataset x backbone x size x tasks) every method is compared with the
    baseline by a two-level paired bootstrap over seeds and test examples, corpus metrics
    recomputed on every resample, with Holm correction across the table.
    """
    settings = Settings(
        baseline=baseline, alpha=alpha, correction=correction, resamples=resamples, seed=seed, test=test
    )
    click.echo(render_leaderboard(results, fmt=fmt, settings=settings))
    if out is not None:
        for path in write_leaderboards(results, out, settings=settings):
            click.echo(f"wrote {path}")
