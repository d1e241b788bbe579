"""One benchmark invocation: optional fair tuning, then the grid, on any executor, resumable."""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from mtlbench.results import DONE, FAILED, read_metrics
from mtlbench.runner.executors import Executor, Outcome, run_grid
from mtlbench.runner.lease import HELD, current_holder
from mtlbench.runner.loading import DEFAULT_LOADING, LoadSettings
from mtlbench.runner.progress import GridProgress
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import TUNING_DIR, ResultStore
from mtlbench.runner.trackers import TrackerSettings
from mtlbench.runner.tuning import apply_selection, plan_trials
from mtlbench.train.checkpoint import DEFAULT_CHECKPOINTS, CheckpointSettings


def run_benchmark(
    specs: Sequence[RunSpec],
    results: Path,
    executor: Executor,
    *,
    tune: int = 0,
    rerun_failed: bool = False,
    data_root: Path | None = None,
    device: str | None = None,
    stream: TextIO | None = None,
    trackers: TrackerSettings | None = None,
    models_dir: Path | None = None,
    loading: LoadSettings = DEFAULT_LOADING,
    checkpoints: CheckpointSettings = DEFAULT_CHECKPOINTS,
) -> list[RunSpec]:
    """Run ``specs`` (after ``tune`` trials per method group, when > 0); returns the final specs.

    Runs already done are skipped and interrupted ones resume, in the tuning store as in the
    main one, so the whole invocation can be repeated after any crash. With ``trackers``, every
    run is logged there too (tuning trials in the group ``<group>-tuning``).

    Several grids may share one store (two terminals, a local grid beside a Slurm array): each
    run is trained under a lease by one process at a time. A grid goes on past the runs another
    live process holds, then waits for them (polling the store), and trains any whose holder
    died (its lease expired) itself, so every grid ends with every run of its specs finished.
    """
    if tune:
        trial_trackers = dataclasses.replace(trackers, group=f"{trackers.group}-tuning") if trackers else None
        trial_store = ResultStore(Path(results) / TUNING_DIR)
        trials = plan_trials(specs, tune)
        flat = [t for group in trials.values() for t in group]
        _run_stage(
            f"tuning ({tune} trials per method)",
            flat,
            trial_store,
            executor,
            rerun_failed,
            data_root,
            device,
            stream,
            trial_trackers,
            models_dir,
            loading,
            checkpoints,
        )
        specs = apply_selection(specs, trials, _validation_score(trial_store))
        _reuse_trials(specs, trial_store, ResultStore(results))
    _run_stage(
        "grid",
        list(specs),
        ResultStore(results),
        executor,
        rerun_failed,
        data_root,
        device,
        stream,
        trackers,
        models_dir,
        loading,
        checkpoints,
    )
    return list(specs)


def _run_stage(
    name: str,
    specs: list[RunSpec],
    store: ResultStore,
    executor: Executor,
    rerun_failed: bool,
    data_root: Path | None,
    device: str | None,
    stream: TextIO | None,
    trackers: TrackerSettings | None = None,
    models_dir: Path | None = None,
    loading: LoadSettings = DEFAULT_LOADING,
    checkpoints: CheckpointSettings = DEFAULT_CHECKPOINTS,
    poll_s: float = 5.0,
) -> None:
    store.register(specs)
    for line in store.changed_defaults(specs):
        print(f"warning: {line}", file=sys.stderr)
    todo = store.todo(specs, rerun_failed=rerun_failed)
    progress = GridProgress(total=len(specs), done=len(specs) - len(todo), store=store, stream=stream, name=name)
    progress.start(store.root, todo)
    try:

        def run(runs: list[RunSpec]) -> list[RunSpec]:
            """Run ``runs``; those another process held."""
            outcomes = run_grid(
                runs,
                store.root,
                executor,
                data_root=data_root,
                device=device,
                progress=progress,
                trackers=trackers,
                models_dir=models_dir,
                loading=loading,
                checkpoints=checkpoints,
            )
            return [outcome.spec for outcome in outcomes if outcome.state == HELD]

        held = run(todo)
        while held:
            time.sleep(poll_s)
            for spec in held:
                if store.state(spec.run_id) in (DONE, FAILED):
                    progress(Outcome(spec, store.state(spec.run_id), 0.0))  # finished by its holder
            held = [spec for spec in held if store.state(spec.run_id) not in (DONE, FAILED)]
            free = [spec for spec in held if current_holder(store.path(spec.run_id)) is None]
            held = [spec for spec in held if spec not in free] + (run(free) if free else [])
    except BaseException:
        progress.finish(interrupted=True)
        raise
    progress.finish()


def _validation_score(store: ResultStore) -> Callable[[RunSpec], float | None]:
    def score(spec: RunSpec) -> float | None:
        if store.state(spec.run_id) != DONE:
            return None
        val: Any = read_metrics(store.path(spec.run_id)).get("val", {})  # a damaged file: StoreError, one line
        monitor = spec.monitor  # a cls-only single-task run is selected on its validation loss
        if not isinstance(val, dict):
            return None
        value = -val["loss"] if monitor == "loss" and isinstance(val.get("loss"), int | float) else val.get(monitor)
        return float(value) if isinstance(value, int | float) else None

    return score


def _reuse_trials(final: Sequence[RunSpec], trial_store: ResultStore, store: ResultStore) -> None:
    """A chosen trial IS the final run of its seed (same spec, same run_id): copy it instead of rerunning."""
    for spec in final:
        target = store.path(spec.run_id)
        if trial_store.state(spec.run_id) == DONE and store.state(spec.run_id) != DONE:
            tmp = target.with_name(f".{target.name}.copy")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(trial_store.path(spec.run_id), tmp)
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
