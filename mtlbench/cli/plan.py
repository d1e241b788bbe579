"""`mtlbench plan`: seeds and test examples needed to detect a difference, from a pilot store."""

from __future__ import annotations

import math
from pathlib import Path

import click
from tabulate import tabulate

from mtlbench.stats import Settings
from mtlbench.stats.plan import CellPlan, parse_deltas, plan


def _sd(variances: tuple[float, ...] | float) -> str:
    values = variances if isinstance(variances, tuple) else (variances,)
    return f"{math.sqrt(sum(values) / len(values)):.2f}"


def render_plan(plans: list[CellPlan], skipped: list[str], settings: Settings, target: float, seeds: int | None) -> str:
    parts = []
    for cell in plans:
        planned = seeds or (cell.rows[0].pilot_seeds if cell.rows else 0)
        header = [
            "metric",
            "Δ to detect",
            "seed sd",
            f"run noise sd (n={cell.examples})",
            f"test-set sd of Δ (n={cell.examples})",
            f"power now ({cell.rows[0].pilot_seeds if cell.rows else '?'} seeds)",
            f"seeds needed (n={cell.examples})",
            f"test examples needed ({planned} seeds)",
        ]
        rows = [
            [
                r.metric,
                f"{r.delta:g}",
                _sd(r.design.seed),
                _sd(r.design.noise),
                _sd(r.design.interaction),
                f"{r.power_now:.2f}",
                r.seeds_needed if r.seeds_needed is not None else "more than the maximum",
                r.examples_needed if r.examples_needed is not None else "not reachable: seeds dominate",
            ]
            for r in cell.rows
        ]
        table = tabulate(rows, header, tablefmt="simple", disable_numparse=True)
        caption = (
            f"{cell.title}: power {target:g} to detect an absolute difference Δ (x100; Δm% in percent) against "
            f"{settings.baseline} with the crossed-design t-test, two-sided alpha {settings.alpha:g} per comparison "
            "(for a table corrected over m comparisons, plan with --alpha 0.05/m). Variance components measured on "
            f"the pilot ({cell.methods} methods, {cell.examples} test examples) and averaged over its methods against "
            f"{settings.baseline}; standard deviations in the units of Δ, per run."
        )
        parts.append(f"{cell.title}\n\n{table}\n{caption}")
    parts += [f"No plan for {line}." for line in skipped]
    return "\n\n".join(parts) + "\n"


@click.command("plan")
@click.argument("pilot", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--baseline", default="ls", show_default=True, help="Method the others are compared with.")
@click.option(
    "--delta",
    "deltas",
    multiple=True,
    metavar="METRIC=POINTS",
    help="Absolute difference to detect, x100 (delta_m: percent); repeatable. "
    "Default: 1 point for each summary metric and for delta_m.",
)
@click.option("--power", "target", type=click.FloatRange(0.5, 0.999), default=0.8, show_default=True)
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Two-sided, per comparison.")
@click.option(
    "--seeds", type=click.IntRange(2), default=None, help="Seeds for the test-examples column (default: the pilot's)."
)
@click.option("--max-seeds", type=click.IntRange(2), default=100, show_default=True)
@click.option("--resamples", type=int, default=2000, show_default=True, help="Example resamples of the pilot.")
def plan_command(
    pilot: Path,
    baseline: str,
    deltas: tuple[str, ...],
    target: float,
    alpha: float,
    seeds: int | None,
    max_seeds: int,
    resamples: int,
) -> None:
    """How many seeds and test examples a study needs, from the runs of a PILOT store.

    The seed-to-seed, run-noise and test-set variance of each difference to the baseline is
    measured on the pilot; the power of the default crossed-design t-test follows for any number
    of seeds and test examples.
    """
    settings = Settings(baseline=baseline, alpha=alpha, resamples=resamples)
    wanted = parse_deltas(deltas, settings)
    plans, skipped = plan(pilot, settings, wanted, target=target, most_seeds=max_seeds, seeds=seeds)
    click.echo(render_plan(plans, skipped, settings, target, seeds))
