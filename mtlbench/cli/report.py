"""`mtlbench report`: significance-tested leaderboards of a result store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mtlbench.errors import MtlbenchError
from mtlbench.stats import Settings, build_report, render_report, write_report
from mtlbench.stats.correction import CORRECTIONS
from mtlbench.stats.settings import AUTO, POSTHOCS, SUMMARY_METRICS, TESTS
from mtlbench.stats.tables import FORMATS


def _color_terminal() -> bool:
    """ANSI bold/underline only on an interactive terminal that has not opted out (NO_COLOR)."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


@click.command("report")
@click.argument("results", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--baseline", default="ls", show_default=True, help="Method every other one is tested against.")
@click.option(
    "--reference",
    default="",
    help="Also state Delta_m% against this method, e.g. stl (the single-task models, the reference of the MTL "
    "literature), beside Delta_m% against the baseline.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write every format as OUT.{txt,md,tex,csv,html} and the CD diagram as OUT-cd.png.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="terminal", show_default=True)
@click.option(
    "--test",
    type=click.Choice(TESTS),
    default="crossed",
    show_default=True,
    help="crossed: t-test on the variance components of seeds x shared test examples (calibrated from 3 "
    "seeds); bootstrap: the former two-level paired bootstrap (anti-conservative when seeds dominate); "
    "randomization: whole seed-matched runs exchanged (exact; needs 6+ seeds for p < 0.05); "
    "welch/wilcoxon/mannwhitney: per-seed tests (they ignore the test set).",
)
@click.option(
    "--correction",
    type=click.Choice((AUTO, *CORRECTIONS)),
    default=AUTO,
    show_default=True,
    help="Over each table's family: maxt (step-down max-T, needs --test crossed), holm, bh; auto: maxt with "
    "the crossed test, holm otherwise.",
)
@click.option("--alpha", type=float, default=0.05, show_default=True)
@click.option(
    "--resamples", type=int, default=Settings.resamples, show_default=True, help="Bootstrap resamples / rounds."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the resampling.")
@click.option(
    "--posthoc",
    type=click.Choice(POSTHOCS),
    default="wilcoxon",
    show_default=True,
    help="Across cells: pairwise Wilcoxon with Holm, or Nemenyi (critical difference).",
)
@click.option(
    "--summary-metrics",
    default=",".join(SUMMARY_METRICS),
    show_default=True,
    help="Comma-separated metrics behind Delta_m% and the mean ranks.",
)
@click.option(
    "--rope",
    multiple=True,
    metavar="METRIC=POINTS",
    help="Region of practical equivalence of the Bayesian second opinion, x100 (delta_m: percent); "
    "repeatable. Defaults: 0.5 for NLG metrics, 1 for CE metrics and delta_m. Set it before looking.",
)
def report_command(
    results: Path,
    baseline: str,
    reference: str,
    out: Path | None,
    fmt: str,
    test: str,
    correction: str,
    alpha: float,
    resamples: int,
    seed: int,
    posthoc: str,
    summary_metrics: str,
    rope: tuple[str, ...],
) -> None:
    """Print the leaderboard of RESULTS; with --out, also write every format.

    Within each cell (dataset x backbone x size x tasks) every method is compared with the
    baseline, by default with the crossed-design t-test (seed and test-set variance components,
    corpus metrics recomputed on every resample) and step-down max-T over each table. Across
    cells (the independent blocks): Friedman with Iman-Davenport, a post-hoc test, mean ranks
    of Delta_m%, and a Bayesian signed-rank second opinion.
    """
    settings = Settings(
        baseline=baseline,
        reference=reference,
        alpha=alpha,
        correction=correction,
        resamples=resamples,
        seed=seed,
        test=test,
        posthoc=posthoc,
        summary_metrics=tuple(m.strip() for m in summary_metrics.split(",") if m.strip()),
        rope=tuple(_rope(item) for item in rope),
    )
    report = build_report(results, settings)
    click.echo(render_report(report, fmt, ansi=fmt == "terminal" and _color_terminal()), color=True)
    if out is not None:
        written = write_report(report, out)
        for path in written.paths:
            click.echo(f"wrote {path}")
        for note in written.notes:
            click.echo(f"note: {note}", err=True)


def _rope(item: str) -> tuple[str, float]:
    key, sep, value = item.partition("=")
    try:
        if not sep:
            raise ValueError
        return key.strip(), float(value)
    except ValueError:
        raise MtlbenchError(f"--rope {item!r}: give METRIC=POINTS, e.g. BLEU_4=0.5 or delta_m=1") from None
