"""`mtlbench run`: expand a grid, run what the store lacks, end with a leaderboard."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from mtlbench.cli.options import models_dir_option
from mtlbench.data import DATASETS
from mtlbench.data.schema import Annotation
from mtlbench.data.sources import resolve_data_root
from mtlbench.errors import DataError, MtlbenchError
from mtlbench.metrics import ModelPaths, family_status
from mtlbench.runner.benchmark import run_benchmark
from mtlbench.runner.executors.base import ExecutorOption
from mtlbench.runner.executors.factory import EXECUTORS, executor_options, make_executor
from mtlbench.runner.feature_cache import check_feature_cache
from mtlbench.runner.grid import expand
from mtlbench.runner.gridfile import GRID_OPTIONS, GridOption, grid_from
from mtlbench.runner.image_cache import prebuild_image_caches
from mtlbench.runner.loading import LoadSettings
from mtlbench.runner.plan import plan_text
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore
from mtlbench.runner.trackers import TrackerSettings, check_installed, parse_trackers
from mtlbench.train.checkpoint import DEFAULT_CHECKPOINTS, CheckpointSettings


def check_datasets(specs: list[RunSpec], data_root: Path | None) -> dict[tuple[str, tuple], Annotation]:
    """Load (and so check) every dataset before any run starts: a missing or malformed one stops the
    grid with one line per dataset, the same messages each run would give. Returns them by
    (dataset, data options), for the image caches to use."""
    problems = []
    loaded: dict[tuple[str, tuple], Annotation] = {}
    seen: set[tuple[str, tuple]] = set()
    for spec in specs:
        key = (spec.dataset, spec.data_options)
        if key in seen:
            continue
        seen.add(key)
        try:
            loaded[key] = DATASETS.get(spec.dataset)(**dict(spec.data_options)).load(data_root)
        except DataError as err:
            problems.append(str(err))
    if problems:
        raise DataError("\n".join(problems))
    return loaded


def check_metrics(specs: list[RunSpec], models_dir: Path | None) -> None:
    """Refuse, before any run trains, a grid whose extra metric families cannot run here (package or
    weights missing): one line per family, saying what to install or where to put what."""
    wanted = sorted({name for spec in specs for name in spec.eval.metrics})
    if not wanted:
        return
    status = family_status(ModelPaths.from_env(root=models_dir))
    problems = [f"eval.metrics {name}: {status[name]}" for name in wanted if status.get(name)]
    if problems:
        raise MtlbenchError("\n".join(problems))


class Interrupted(click.ClickException):
    """Ctrl-C or SIGTERM: the shell's convention for a command stopped by SIGINT."""

    exit_code = 130


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """A SIGTERM (``kill``, a scheduler) stops the grid as cleanly as Ctrl-C does."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _grid_option(option: GridOption) -> Callable[[Callable], Callable]:
    """The click option of one grid setting (declared in mtlbench.runner.gridfile.GRID_OPTIONS)."""
    flag = "--" + option.name.replace("_", "-")
    if option.merge is not None:
        return click.option(flag, option.name, multiple=True, metavar=option.metavar, help=option.help)
    if option.flag:
        return click.option(f"{flag}/--no-{flag[2:]}", default=option.default, show_default=True, help=option.help)
    kind = click.Choice(option.choices) if option.choices else option.type
    return click.option(flag, option.name, type=kind, default=option.default, show_default=True, help=option.help)


def _executor_option(option: ExecutorOption) -> Callable[[Callable], Callable]:
    """The click option of one executor option (declared by the executors, ``Executor.options``)."""
    kind = click.Path(path_type=Path) if option.type is Path else option.type
    return click.option(option.cli_flag, option.name, type=kind, default=None, help=option.help)


def _with_options(command: Callable) -> Callable:
    """Every grid setting's option, then every executor's (``mtlbench run --help`` shows them in this order)."""
    for option in reversed(executor_options()):
        command = _executor_option(option)(command)
    for option in reversed(GRID_OPTIONS):
        command = _grid_option(option)(command)
    return command


@click.command("run")
@click.argument("grid_file", required=False, type=click.Path(path_type=Path))
@_with_options
@models_dir_option
@click.option(
    "--results",
    type=click.Path(path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Result store; runs already done there are skipped.",
)
@click.option(
    "--data-root",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder with one sub-folder per real dataset (default: $MTLBENCH_DATA).",
)
@click.option(
    "--executor",
    type=click.Choice(list(EXECUTORS)),
    default="local",
    show_default=True,
    help="Where runs execute: local processes, a Ray cluster (extra 'ray') or Slurm via submitit (extra 'slurm').",
)
@click.option(
    "--log-to",
    "log_to",
    default="",
    metavar="TRACKERS",
    help="Also log every run to experiment trackers: tensorboard, mlflow, wandb (comma-separated; each its own "
    'extra, e.g. pip install "mtlbench[tensorboard]"), under RESULTS/trackers, grouped by grid '
    "(W&B offline unless WANDB_MODE says otherwise; MLflow at MLFLOW_TRACKING_URI when set).",
)
@click.option(
    "--loader-workers",
    type=int,
    default=None,
    help="Data loader processes per run (default: 0 on CPU, 4 on CUDA). Same numbers either way.",
)
@click.option(
    "--checkpoint-steps",
    type=int,
    default=DEFAULT_CHECKPOINTS.every_steps,
    show_default=True,
    help="Also save each run's state every this many steps inside an epoch (0: not by steps). Same numbers either way.",
)
@click.option(
    "--checkpoint-minutes",
    type=float,
    default=DEFAULT_CHECKPOINTS.every_minutes,
    show_default=True,
    help="Also save each run's state when this many minutes passed since its last save (0: not by time); "
    "a killed run resumes at the batch it had saved. Same numbers either way.",
)
@click.option(
    "--image-cache/--no-image-cache",
    default=True,
    show_default=True,
    help="Decode and resize each image once into a shared cache ($MTLBENCH_CACHE/images), built before the "
    "first run. Same numbers either way.",
)
@click.option(
    "--plan",
    "plan_only",
    is_flag=True,
    help="Do not train: list the grid's runs and those done, and estimate time, memory and store size "
    "from a few timed steps of each kind of run on this machine.",
)
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@click.option("--rerun-failed", is_flag=True, help="Retry runs recorded as failed.")
@click.option("--baseline", default="ls", show_default=True, help="Method the leaderboard compares against.")
@click.option("--no-leaderboard", is_flag=True, help="Do not print the leaderboard at the end.")
@click.pass_context
def run_command(
    ctx: click.Context,
    grid_file: Path | None,
    results: Path,
    data_root: Path | None,
    models_dir: Path | None,
    executor: str,
    log_to: str,
    loader_workers: int | None,
    checkpoint_steps: int,
    checkpoint_minutes: float,
    image_cache: bool,
    plan_only: bool,
    device: str | None,
    rerun_failed: bool,
    baseline: str,
    no_leaderboard: bool,
    **options: Any,
) -> None:
    """Run a benchmark grid (methods x backbones x datasets x seeds) and print its leaderboard.

    With no arguments: the default grid on the embedded synthetic dataset, which finishes
    on 2 CPU cores within minutes. GRID_FILE is a TOML grid (see baselines/); options
    given on the command line override it. Runs already done in --results are skipped,
    so an interrupted grid resumes where it stopped (Ctrl-C stops cleanly).
    """
    grid_names = {option.name for option in GRID_OPTIONS}
    given = {
        name: value
        for name, value in options.items()
        if name in grid_names and ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    }
    grid = grid_from(grid_file, given)
    specs = expand(grid)
    chosen = make_executor(
        executor, results=results, **{name: value for name, value in options.items() if name not in grid_names}
    )
    kinds = parse_trackers(log_to)
    check_installed(kinds)
    group = grid_file.stem if grid_file else results.resolve().name  # the grid, as the trackers group runs
    trackers = TrackerSettings(kinds, str((results / "trackers").resolve()), group)
    check_metrics(specs, models_dir)
    for spec in specs:
        check_feature_cache(spec)
    loading = LoadSettings(workers=loader_workers, image_cache=image_cache)
    checkpoints = CheckpointSettings(every_steps=checkpoint_steps, every_minutes=checkpoint_minutes)
    root = resolve_data_root(data_root)
    loaded = check_datasets(specs, root)  # generates the synthetic data once, before any worker needs it
    if plan_only:
        click.echo(plan_text(specs, results, chosen, executor, grid.tune, device, root, loading))
        return
    if image_cache:  # tuning trials run other specs first: cache for all of them
        prebuild_image_caches(specs if grid.tune else ResultStore(results).todo(specs), root, annotations=loaded)
    try:
        with _terminate_as_interrupt():
            run_benchmark(
                specs,
                results,
                chosen,
                tune=grid.tune,
                rerun_failed=rerun_failed,
                data_root=root,
                device=device,
                trackers=trackers,
                models_dir=models_dir,
                loading=loading,
                checkpoints=checkpoints,
            )
    except KeyboardInterrupt:
        raise Interrupted("interrupted: finished runs are kept; run the same command again to resume") from None
    if not no_leaderboard:
        from mtlbench.stats import render_leaderboard

        click.echo()
        click.echo(render_leaderboard(results, baseline=baseline, fmt="terminal"))
