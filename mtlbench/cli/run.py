"""`mtlbench run`: expand a grid, run what the store lacks, end with a leaderboard."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from mtlbench.data import DATASETS
from mtlbench.data.images import DECODES
from mtlbench.data.schema import UNCERTAIN_POLICIES, Annotation
from mtlbench.data.sources import resolve_data_root
from mtlbench.errors import DataError, MtlbenchError
from mtlbench.runner.benchmark import run_benchmark
from mtlbench.runner.executors.factory import make_executor
from mtlbench.runner.feature_cache import check_feature_cache
from mtlbench.runner.grid import DEFAULT_SEEDS, expand
from mtlbench.runner.gridfile import grid_from_settings, load_grid_file
from mtlbench.runner.image_cache import prebuild_image_caches
from mtlbench.runner.loading import LoadSettings
from mtlbench.runner.plan import plan_text
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore
from mtlbench.train.config import PRECISIONS, EvalConfig, TrainConfig

# CLI option -> (section of the grid settings or None for top level, key)
_OVERRIDES: dict[str, tuple[str | None, str]] = {
    "methods": (None, "methods"),
    "datasets": (None, "datasets"),
    "backbones": (None, "backbones"),
    "seeds": (None, "seeds"),
    "tasks": (None, "tasks"),
    "size": (None, "size"),
    "tune": (None, "tune"),
    "epochs": ("train", "epochs"),
    "batch_size": ("train", "batch_size"),
    "lr": ("train", "lr"),
    "image_size": ("train", "image_size"),
    "cls_uncertain": ("train", "cls_uncertain"),
    "labeler": ("eval", "labeler"),
    "uncertain": ("eval", "uncertain"),
    "meteor": ("eval", "meteor"),
    "precision": ("train", "precision"),
    "augment": ("train", "augment"),
    "image_decode": ("train", "image_decode"),
}


def check_datasets(specs: list[RunSpec], data_root: Path | None) -> dict[tuple[str, tuple], Annotation]:
    """Load (and so check) every dataset before any run starts: a missing or malformed one stops the
    grid with one line per dataset, the same messages each run would give. Returns them by
    (dataset, data options), for the image caches to use."""
    problems = []
    loaded: dict[tuple[str, tuple], Annotation] = {}
    for spec in specs:
        key = (spec.dataset, spec.data_options)
        if key in loaded:
            continue
        try:
            loaded[key] = DATASETS.get(spec.dataset)(**dict(spec.data_options)).load(data_root)
        except DataError as err:
            problems.append(str(err))
    if problems:
        raise DataError("\n".join(problems))
    return loaded


def _parse_data_options(items: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name_key, sep, raw = item.partition("=")
        dataset, dot, key = name_key.partition(".")
        if not (sep and dot and dataset and key):
            raise MtlbenchError(f"--data-opt {item!r}: expected DATASET.KEY=VALUE, e.g. synthetic.n_train=64")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(dataset, {})[key] = value
    return out


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


_EXECUTOR_OPTIONS = {
    "local": ("workers", "threads", "runs_per_gpu"),
    "ray": ("address", "cpus_per_task", "gpus_per_task"),
    "slurm": (
        "runs_per_gpu",
        "partition",
        "time_min",
        "cpus_per_task",
        "gpus_per_task",
        "mem_gb",
        "array_parallelism",
        "max_requeues",
        "folder",
    ),
}


def _executor_options(executor: str, **options: Any) -> dict[str, Any]:
    """The options that ``executor`` takes and the user set; options of other executors are refused."""
    allowed = _EXECUTOR_OPTIONS[executor]
    given = {k: v for k, v in options.items() if v is not None}
    stray = sorted(set(given) - set(allowed) - {"folder"})
    if stray:
        flags = ", ".join("--" + k.replace("_", "-") for k in stray)
        takes = ", ".join("--" + k.replace("_", "-") for k in allowed if k != "folder")
        raise MtlbenchError(f"{flags} do(es) not apply to --executor {executor}; it takes {takes}")
    return {k: v for k, v in given.items() if k in allowed}


@click.command("run")
@click.argument("grid_file", required=False, type=click.Path(path_type=Path))
@click.option(
    "--methods",
    default="ls,pcgrad",
    show_default=True,
    help="Comma-separated method names or aliases, or 'all' (see `mtlbench list methods`).",
)
@click.option(
    "--datasets",
    default="synthetic",
    show_default=True,
    help="Comma-separated datasets: synthetic, iu (iu_xray), mimic (mimic_cxr).",
)
@click.option("--backbones", default="transformer", show_default=True, help="Comma-separated backbones.")
@click.option(
    "--seeds",
    default=str(DEFAULT_SEEDS),
    show_default=True,
    help="N for seeds 0..N-1, or an explicit list such as 1,4,7.",
)
@click.option("--tasks", default="report,cls", show_default=True, help="Tasks trained jointly (K = their number).")
@click.option("--size", default="tiny", show_default=True, help="Backbone size: tiny (CPU) or paper.")
@click.option("--epochs", type=int, default=TrainConfig.epochs, show_default=True)
@click.option("--batch-size", type=int, default=TrainConfig.batch_size, show_default=True)
@click.option("--lr", type=float, default=TrainConfig.lr, show_default=True)
@click.option("--image-size", type=int, default=TrainConfig.image_size, show_default=True)
@click.option(
    "--cls-uncertain",
    type=click.Choice(UNCERTAIN_POLICIES),
    default=TrainConfig.cls_uncertain,
    show_default=True,
    help="How CheXpert 'uncertain' labels become targets of the cls task (U-Ones or U-Zeros).",
)
@click.option("--labeler", default=EvalConfig.labeler, show_default=True, help="CE labeler: rules or chexbert.")
@click.option(
    "--uncertain",
    type=click.Choice(UNCERTAIN_POLICIES),
    default=EvalConfig.uncertain,
    show_default=True,
    help="How CE counts CheXpert 'uncertain'.",
)
@click.option("--meteor/--no-meteor", default=EvalConfig.meteor, show_default=True, help="METEOR needs Java.")
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=TrainConfig.precision,
    show_default=True,
    help="Training precision: fp32, or mixed precision under autocast (bf16; fp16 with a gradient scaler). "
    "Part of the run id.",
)
@click.option(
    "--augment/--no-augment",
    default=TrainConfig.augment,
    show_default=True,
    help="R2Gen's random crop and flip on training images (--no-augment: the eval transform). Part of the run id.",
)
@click.option(
    "--image-decode",
    type=click.Choice(DECODES),
    default=TrainConfig.image_decode,
    show_default=True,
    help="JPEG decoding: full, or reduced (DCT scaling to the target size: several times faster on "
    "full-resolution files, slightly different pixels). Part of the run id.",
)
@click.option(
    "--loader-workers",
    type=int,
    default=None,
    help="Data loader processes per run (default: 0 on CPU, 4 on CUDA). Same numbers either way.",
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
@click.option(
    "--backbone-opt",
    "backbone_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="A backbone option: beam_size, block_trigrams, extractor (cnn|resnet101), extractor_weights "
    "(a local torchvision resnet101 state_dict, relative to --data-root) (repeatable).",
)
@click.option(
    "--data-opt",
    "data_opts",
    multiple=True,
    metavar="DATASET.KEY=VALUE",
    help="A dataset source option, e.g. synthetic.n_train=64 (repeatable).",
)
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
    "--tune",
    type=int,
    default=0,
    show_default=True,
    help="Give every method (ls included) N trials over lr and its own hyper-parameters, chosen on validation.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray", "slurm"]),
    default="local",
    show_default=True,
    help="Where runs execute: local processes, a Ray cluster (extra 'ray') or Slurm via submitit (extra 'slurm').",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="local: parallel worker processes (default: one per core, at most one per run; with GPUs, "
    "GPUs x --runs-per-gpu).",
)
@click.option(
    "--threads",
    type=int,
    default=None,
    help="local: torch threads per run (default 1, as with --cpus-per-task 1 on Ray or Slurm, so that a run "
    "gives the same numbers on every executor: its numbers depend on its thread count).",
)
@click.option("--address", default=None, help="ray: address of an existing cluster (default: start a local one).")
@click.option("--partition", default=None, help="slurm: partition to submit to.")
@click.option(
    "--time-min",
    type=int,
    default=None,
    help="slurm: time limit of a run's job in minutes (default 60); at the limit it is requeued and resumes.",
)
@click.option("--cpus-per-task", type=int, default=None, help="slurm/ray: CPU cores (and torch threads) per run.")
@click.option(
    "--gpus-per-task",
    type=float,
    default=None,
    help="ray: GPUs per run, a fraction shares one (0.25: four runs per GPU); slurm: whole GPUs per array task.",
)
@click.option(
    "--runs-per-gpu",
    type=int,
    default=None,
    help="local: runs sharing each GPU at once (default 1); slurm: runs per GPU of an array task, side by side.",
)
@click.option("--mem-gb", type=float, default=None, help="slurm: memory per run in GB.")
@click.option("--array-parallelism", type=int, default=None, help="slurm: most array tasks running at once.")
@click.option(
    "--max-requeues",
    type=int,
    default=None,
    help="slurm: how often a run that hits its time limit is requeued to resume (default 3).",
)
@click.option(
    "--slurm-folder",
    type=click.Path(path_type=Path),
    default=None,
    help="slurm: folder for submitit's job files (default: RESULTS/slurm).",
)
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@click.option("--rerun-failed", is_flag=True, help="Retry runs recorded as failed.")
@click.option("--baseline", default="ls", show_default=True, help="Method the leaderboard compares against.")
@click.option("--no-leaderboard", is_flag=True, help="Do not print the leaderboard at the end.")
@click.pass_context
def run_command(
    ctx: click.Context,
    grid_file: Path | None,
    backbone_opts: tuple[str, ...],
    data_opts: tuple[str, ...],
    results: Path,
    data_root: Path | None,
    executor: str,
    workers: int | None,
    threads: int | None,
    address: str | None,
    partition: str | None,
    time_min: int | None,
    cpus_per_task: int | None,
    gpus_per_task: float | None,
    runs_per_gpu: int | None,
    loader_workers: int | None,
    image_cache: bool,
    plan_only: bool,
    mem_gb: float | None,
    array_parallelism: int | None,
    max_requeues: int | None,
    slurm_folder: Path | None,
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
    settings: dict[str, Any] = load_grid_file(grid_file) if grid_file else {}
    for name, value in options.items():
        explicit = ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
        if explicit or grid_file is None:
            section, key = _OVERRIDES[name]
            (settings.setdefault(section, {}) if section else settings)[key] = value
    for dataset, values in _parse_data_options(data_opts).items():
        settings.setdefault("data", {}).setdefault(dataset, {}).update(values)
    for item in backbone_opts:
        key, sep, raw = item.partition("=")
        if not (sep and key):
            raise MtlbenchError(f"--backbone-opt {item!r}: expected KEY=VALUE, e.g. beam_size=1")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        settings.setdefault("backbone", {})[key] = value
    specs = expand(grid_from_settings(settings))
    chosen = make_executor(
        executor,
        **_executor_options(
            executor,
            workers=workers,
            threads=threads,
            address=address,
            partition=partition,
            time_min=time_min,
            cpus_per_task=cpus_per_task,
            gpus_per_task=gpus_per_task,
            runs_per_gpu=runs_per_gpu,
            mem_gb=mem_gb,
            array_parallelism=array_parallelism,
            max_requeues=max_requeues,
            folder=slurm_folder or results / "slurm",
        ),
    )
    for spec in specs:
        check_feature_cache(spec)
    loading = LoadSettings(workers=loader_workers, image_cache=image_cache)
    root = resolve_data_root(data_root)
    loaded = check_datasets(specs, root)  # generates the synthetic data once, before any worker needs it
    if plan_only:
        click.echo(plan_text(specs, results, chosen, executor, int(settings.get("tune", 0)), device, root, loading))
        return
    if image_cache:
        tuning = int(settings.get("tune", 0)) > 0  # trials run other specs first: cache for all of them
        prebuild_image_caches(specs if tuning else ResultStore(results).todo(specs), root, annotations=loaded)
    try:
        with _terminate_as_interrupt():
            run_benchmark(
                specs,
                results,
                chosen,
                tune=int(settings.get("tune", 0)),
                rerun_failed=rerun_failed,
                data_root=root,
                device=device,
                loading=loading,
            )
    except KeyboardInterrupt:
        raise Interrupted("interrupted: finished runs are kept; run the same command again to resume") from None
    if not no_leaderboard:
        from mtlbench.stats import render_leaderboard

        click.echo()
        click.echo(render_leaderboard(results, baseline=baseline, fmt="terminal"))
