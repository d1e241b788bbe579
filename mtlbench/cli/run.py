"""`mtlbench run`: expand a grid, run what the store lacks, end with a leaderboard."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from mtlbench.data import DATASETS
from mtlbench.data.sources import resolve_data_root
from mtlbench.errors import DataError
from mtlbench.runner.executors import Outcome, run_local
from mtlbench.runner.grid import DEFAULT_SEEDS, GridSpec, expand, parse_seeds
from mtlbench.runner.store import ResultStore
from mtlbench.train.config import EvalConfig, TrainConfig


def check_datasets(names: list[str], data_root: Path | None) -> None:
    """Locate every dataset first, so a missing one stops the grid with one line per dataset."""
    problems = []
    for name in names:
        try:
            DATASETS.get(name)().locate(data_root)
        except DataError as err:
            problems.append(f"{name}: {err}")
    if problems:
        raise DataError("\n".join(problems))


@click.command("run")
@click.option("--methods", default="ls,pcgrad", show_default=True,
              help="Comma-separated method names or aliases, or 'all' (see `mtlbench list methods`).")
@click.option("--datasets", default="synthetic", show_default=True,
              help="Comma-separated datasets: synthetic, iu (iu_xray), mimic (mimic_cxr).")
@click.option("--backbones", default="transformer", show_default=True, help="Comma-separated backbones.")
@click.option("--seeds", default=str(DEFAULT_SEEDS), show_default=True,
              help="N for seeds 0..N-1, or an explicit list such as 1,4,7.")
@click.option("--tasks", default="report,cls", show_default=True, help="Tasks trained jointly (K = their number).")
@click.option("--size", default="tiny", show_default=True, help="Backbone size: tiny (CPU) or paper.")
@click.option("--epochs", type=int, default=TrainConfig.epochs, show_default=True)
@click.option("--batch-size", type=int, default=TrainConfig.batch_size, show_default=True)
@click.option("--lr", type=float, default=TrainConfig.lr, show_default=True)
@click.option("--image-size", type=int, default=TrainConfig.image_size, show_default=True)
@click.option("--labeler", default=EvalConfig.labeler, show_default=True, help="CE labeler: rules or chexbert.")
@click.option("--uncertain", type=click.Choice(["positive", "negative"]), default=EvalConfig.uncertain,
              show_default=True, help="How CE counts CheXpert 'uncertain'.")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
              help="Result store; runs already done there are skipped.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="Folder with one sub-folder per real dataset (default: $MTLBENCH_DATA).")
@click.option("--workers", type=int, default=1, show_default=True, help="Parallel local worker processes.")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@click.option("--rerun-failed", is_flag=True, help="Retry runs recorded as failed.")
@click.option("--baseline", default="ls", show_default=True, help="Method the leaderboard compares against.")
@click.option("--no-leaderboard", is_flag=True, help="Do not print the leaderboard at the end.")
def run_command(
    methods: str, datasets: str, backbones: str, seeds: str, tasks: str, size: str, epochs: int,
    batch_size: int, lr: float, image_size: int, labeler: str, uncertain: str, results: Path,
    data_root: Path | None, workers: int, device: str | None, rerun_failed: bool, baseline: str,
    no_leaderboard: bool,
) -> None:
    """Run a benchmark grid (methods x backbones x datasets x seeds) and print its leaderboard.

    With no options: the default grid on the embedded synthetic dataset, which finishes on
    2 CPU cores within minutes. Runs already done in --results are skipped, so an
    interrupted grid resumes where it stopped.
    """
    train = dataclasses.replace(TrainConfig(), epochs=epochs, batch_size=batch_size, lr=lr, image_size=image_size)
    grid = GridSpec(
        methods=tuple(methods.split(",")),
        datasets=tuple(datasets.split(",")),
        backbones=tuple(backbones.split(",")),
        seeds=parse_seeds(seeds),
        size=size,
        tasks=tuple(t.strip() for t in tasks.split(",")),
        train=train,
        eval=EvalConfig(labeler=labeler, uncertain=uncertain),
    )
    specs = expand(grid)
    root = resolve_data_root(data_root)
    check_datasets(sorted({s.dataset for s in specs}), root)
    store = ResultStore(results)
    todo = store.todo(specs, rerun_failed=rerun_failed)
    click.echo(f"grid: {len(specs)} runs, {len(specs) - len(todo)} already done, {len(todo)} to run -> {results}")
    counter = {"n": 0}

    def progress(outcome: Outcome) -> None:
        counter["n"] += 1
        spec = outcome.spec
        line = (f"[{counter['n']}/{len(todo)}] {outcome.state:6s} {spec.label} seed={spec.seed} "
                f"{spec.dataset}/{spec.backbone} ({outcome.seconds:.1f} s)")
        if outcome.state != "done":
            line += f": {store.status(spec.run_id).get('reason', '')}"
        click.echo(line)

    run_local(todo, results, workers=workers, data_root=root, device=device, progress=progress)
    if not no_leaderboard:
        from mtlbench.stats import render_leaderboard

        click.echo()
        click.echo(render_leaderboard(results, baseline=baseline, fmt="terminal"))
