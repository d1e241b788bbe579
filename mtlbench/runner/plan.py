"""``mtlbench run --plan``: what a grid will cost on this machine, from a few timed steps, without training.

Runs that differ only by seed cost the same, so each cost class (everything but the seed) is
probed once, in a fresh process (its peak memory is then its own) with the threads and device
its runs will have. The probes run side by side, as many at once as the executor would run
runs, so that they meet the same contention for cores and memory bandwidth as the grid will.

A probe builds the run exactly as ``run_one`` does (data, vocabulary, model, method, optimiser;
the image and feature caches held in memory), then times:

* training steps: one to warm up, then ``steps`` more, the data of each batch already decoded
  (what the image cache gives a run) and timed apart from the step itself;
* validation: the loss pass per batch and, when the monitor is a metric, generation and scoring;
* generation on test batches: the encoder once per batch plus a cost per decoding step, so that
  it can be scaled to the number of steps a trained model takes: as many as the longest
  reference of each batch (an untrained model writes reports of another length);
* scoring the test set (references scored against themselves: the same metrics, labeler and
  sizes), twice: the first call's extra time (METEOR's JVM start) is paid once per worker;
* a checkpoint (saved after every epoch), and the size of every file a run leaves in the store.

Extrapolation: a run = set-up + epochs x (train batches x (data + step) + validation +
checkpoint) + test generation + scoring. The grid's wall clock schedules the runs still to do,
longest first, on the executor's parallel slots, plus each slot's one-off start (process start,
imports, the JVM). Image-cache images still to decode are estimated from the measured decoding
time per image, spread over the cores.
"""

from __future__ import annotations

import copy
import heapq
import io
import json
import math
import multiprocessing
import os
import resource
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from mtlbench.data import DATASETS
from mtlbench.methods import create as create_method
from mtlbench.metrics import evaluate
from mtlbench.runner.build_progress import duration
from mtlbench.runner.environment import pick_device, seed_everything
from mtlbench.runner.executors.base import Executor, usable_cores
from mtlbench.runner.executors.local import LocalExecutor
from mtlbench.runner.feature_cache import MemoryFeatures
from mtlbench.runner.image_cache import MemoryPixels, image_needs, missing_images
from mtlbench.runner.loading import LoadSettings
from mtlbench.runner.run_one import prepare
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import TUNING_DIR, ResultStore
from mtlbench.runner.tuning import plan_trials
from mtlbench.train.step import Trainer

STEPS = 5
"""Training steps timed per cost class (after one to warm up)."""

EVAL_BATCHES = 2
"""Validation and test batches timed per cost class."""


def cost_class(spec: RunSpec) -> str:
    """What a run's cost depends on: its whole configuration except the seed."""
    data = spec.to_dict()
    data.pop("seed")
    return json.dumps(data, sort_keys=True, default=str)


@dataclass
class Probe:
    """What one probe measured (seconds unless named otherwise)."""

    setup: float
    data_per_batch: float
    step: float
    val_loss_per_batch: float
    encode_per_batch: float
    decode_step: float
    val_scoring: float
    test_scoring: float
    scoring_first_extra: float
    checkpoint_save: float
    checkpoint_bytes: int
    peak_memory_bytes: int
    cuda_peak_bytes: int
    process_start: float
    decode_per_image: float
    features_per_image: float
    train_batches: int
    val_batches: int
    test_batches: int
    val_decode_steps: int
    test_decode_steps: int
    store_bytes: int


@dataclass
class RunEstimate:
    """Estimated cost of one run of a cost class."""

    spec: RunSpec
    seconds: float
    parts: dict[str, float]
    peak_memory_bytes: int
    cuda_peak_bytes: int
    store_bytes: int
    checkpoint_bytes: int
    worker_start: float


@dataclass
class GridPlan:
    """The grid's runs, which are done, and the estimates."""

    total: int
    done: int
    todo: list[RunSpec]
    classes: list[tuple[RunEstimate, int, int]]
    """(estimate, runs of the class, runs still to do)."""
    slots: int
    wall_seconds: float
    run_seconds: float
    store_bytes: int
    cache_images: int = 0
    cache_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _longest_reference_steps(dataset: Any, batch_size: int, max_len: int) -> int:
    """Decoding steps a trained model takes over ``dataset`` in batches: per batch, the longest
    reference (its words and EOS), capped at ``max_len``."""
    lengths = [min(max_len, len(ids) - 1) for ids in dataset.tokens]
    return sum(max(lengths[i : i + batch_size]) for i in range(0, len(lengths), batch_size))


def probe(
    spec_dict: dict[str, Any], data_root: str | None, device: str, loading: LoadSettings, threads: int
) -> dict[str, Any]:
    """Measure one cost class (runs in its own process; returns :class:`Probe` as a dict)."""
    torch.set_num_threads(threads)
    spec = RunSpec.from_dict(spec_dict)
    torch_device = torch.device(device)
    seed_everything(spec.seed)  # its first call in a process imports much of torch: part of a worker's start
    process_start = _process_age()
    started = time.perf_counter()
    loading = replace(loading, workers=0)  # the probe times data and step apart; workers would hide one
    prep = prepare(
        spec, Path(data_root) if data_root else None, loading=loading, device=torch_device, memory_caches=True
    )
    setup = time.perf_counter() - started
    model = prep.model
    method = create_method(spec.method, **dict(spec.method_params))
    trainer = Trainer(model, method, spec.train, torch_device)
    trainer.start_epoch(0)
    batches = prep.train_batches(spec.seed)
    wanted = 1 + STEPS
    for i, _ in enumerate(batches(0)):  # decodes (and keeps) the images these batches need
        if i + 1 >= wanted:
            break
    data_time, step_time, steps = 0.0, 0.0, 0
    iterator = iter(batches(0))
    for i in range(wanted):
        tick = time.perf_counter()
        batch = next(iterator, None)
        if batch is None:
            iterator = iter(batches(1))
            batch = next(iterator)
        tock = time.perf_counter()
        record = trainer.step(batch)
        _sync(torch_device)
        done = time.perf_counter()
        if i:  # the first step warms up (allocations, lazy initialisation)
            data_time += tock - tick
            step_time += done - tock
            steps += 1
    log_line = len(json.dumps({"kind": "step", "epoch": 0, "step": 0, **record.as_dict()}, default=float)) + 1
    model.eval()
    val_batches = _first(prep.loaders["val"], EVAL_BATCHES)
    _first(prep.loaders["test"], EVAL_BATCHES)  # decoded once, as the cache would hold them
    test_batches = _first(prep.loaders["test"], EVAL_BATCHES)
    with torch.no_grad():
        tick = time.perf_counter()
        for batch in val_batches:
            model(batch.to(torch_device))
        _sync(torch_device)
        val_loss = (time.perf_counter() - tick) / len(val_batches)
        encode_time, decode_time, decode_steps = 0.0, 0.0, 0
        for batch in test_batches:
            images, mask = batch.images.to(torch_device), batch.view_mask.to(torch_device)
            tick = time.perf_counter()
            encode = getattr(model, "encode", None)
            if encode is not None:
                encode(images, mask)
                _sync(torch_device)
            tock = time.perf_counter()
            texts = model.generate(images, mask)
            _sync(torch_device)
            done = time.perf_counter()
            encode_time += tock - tick
            decode_time += (done - tock) - (tock - tick)  # generate encodes again: leave that out
            decode_steps += min(model.config.max_len, max(len(t.split()) for t in texts) + 1)
    model.representation = None
    val_refs, test_refs = prep.splits["val"].reference_texts(), prep.splits["test"].reference_texts()
    val_ids = [ex.id for ex in prep.splits["val"].examples]
    test_ids = [ex.id for ex in prep.splits["test"].examples]
    tick = time.perf_counter()
    evaluate(val_ids, val_refs, val_refs, config=spec.eval, nlg=("BLEU", "ROUGE_L"), clinical=False)
    val_scoring = time.perf_counter() - tick
    timings = []
    for _ in range(2):
        tick = time.perf_counter()
        evaluation = evaluate(test_ids, test_refs, test_refs, config=spec.eval)
        timings.append(time.perf_counter() - tick)
    tick = time.perf_counter()
    payload = {"model": model.state_dict(), "optimizer": trainer.optimizer.state_dict()}
    payload["best"] = copy.deepcopy(payload["model"])
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    checkpoint_save = time.perf_counter() - tick
    n = {name: len(data) for name, data in prep.splits.items()}
    batch_size = spec.train.batch_size
    train_batches = math.ceil(n["train"] / batch_size)
    examples = sum(len(json.dumps(row, default=float)) + 1 for row in evaluation.per_example)
    epoch_entry = len(json.dumps({"kind": "epoch", "epoch": 0, "val": {"loss": 0.0, **evaluation.corpus}})) + 1
    steps_total = spec.train.epochs * train_batches
    store = (
        examples
        + math.ceil(steps_total / spec.train.log_every) * log_line
        + spec.train.epochs * 2 * epoch_entry  # the log and metrics.json's history
        + len(json.dumps(evaluation.corpus)) * 4
        + sum(len(t) + 1 for t in prep.tokenizer.idx2token.values())
        + 8192  # config.json and status.json
    )
    pixel_sources = [data.pixels for data in prep.splits.values() if isinstance(data.pixels, MemoryPixels)]
    decoded = {id(p): p for p in pixel_sources}.values()
    images = sum(len(p.arrays) for p in decoded)
    features = prep.splits["train"].features
    return asdict(
        Probe(
            setup=setup,
            data_per_batch=data_time / max(steps, 1),
            step=step_time / max(steps, 1),
            val_loss_per_batch=val_loss,
            encode_per_batch=encode_time / len(test_batches),
            decode_step=max(decode_time, 0.0) / max(decode_steps, 1),
            val_scoring=val_scoring if spec.train.monitor != "loss" else 0.0,
            test_scoring=timings[1],
            scoring_first_extra=max(timings[0] - timings[1], 0.0),
            checkpoint_save=checkpoint_save,
            checkpoint_bytes=buffer.tell(),
            peak_memory_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            cuda_peak_bytes=torch.cuda.max_memory_allocated(torch_device) if torch_device.type == "cuda" else 0,
            process_start=process_start,
            decode_per_image=sum(p.decode_seconds for p in decoded) / images if images else 0.0,
            features_per_image=(
                features.seconds / len(features.arrays)
                if isinstance(features, MemoryFeatures) and features.arrays
                else 0.0
            ),
            train_batches=train_batches,
            val_batches=math.ceil(n["val"] / batch_size),
            test_batches=math.ceil(n["test"] / batch_size),
            val_decode_steps=_longest_reference_steps(prep.splits["val"], batch_size, model.config.max_len),
            test_decode_steps=_longest_reference_steps(prep.splits["test"], batch_size, model.config.max_len),
            store_bytes=store,
        )
    )


def _first(loader: Any, count: int) -> list[Any]:
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == count:
            break
    return out


def _process_age() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere 0)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / _clock_ticks())
    except (OSError, ValueError, IndexError):
        return 0.0


def _clock_ticks() -> int:
    return int(os.sysconf("SC_CLK_TCK"))


def estimate(spec: RunSpec, measured: dict[str, Any]) -> RunEstimate:
    """One run's cost from its class's probe (see the module docstring for the model)."""
    p = Probe(**measured)
    epochs = spec.train.epochs
    generation = spec.train.monitor != "loss"
    val = p.val_batches * p.val_loss_per_batch
    if generation:
        val += p.val_batches * p.encode_per_batch + p.val_decode_steps * p.decode_step + p.val_scoring
    parts = {
        "set-up": p.setup,
        "training": epochs * p.train_batches * (p.data_per_batch + p.step),
        "validation": epochs * val,
        "checkpoints": epochs * p.checkpoint_save,
        "test": p.test_batches * p.encode_per_batch + p.test_decode_steps * p.decode_step + p.test_scoring,
    }
    return RunEstimate(
        spec=spec,
        seconds=sum(parts.values()),
        parts=parts,
        peak_memory_bytes=p.peak_memory_bytes,
        cuda_peak_bytes=p.cuda_peak_bytes,
        store_bytes=p.store_bytes,
        checkpoint_bytes=p.checkpoint_bytes,
        worker_start=p.process_start + p.scoring_first_extra,
    )


def schedule(seconds: Sequence[float], slots: int, start: float = 0.0) -> float:
    """Wall clock of jobs taking ``seconds`` on ``slots`` parallel slots, each started once
    (``start`` seconds), the next job to the first free slot in the given order (as a pool does)."""
    if not seconds:
        return 0.0
    free = [start] * max(1, min(slots, len(seconds)))
    heapq.heapify(free)
    for length in seconds:
        heapq.heappush(free, heapq.heappop(free) + length)
    return max(free)


def plan_grid(
    specs: Sequence[RunSpec],
    results: Path,
    *,
    slots: int,
    threads: int,
    device: str,
    data_root: Path | None,
    loading: LoadSettings,
    tuning_specs: Sequence[RunSpec] = (),
) -> GridPlan:
    """Probe each cost class of ``specs`` (and of ``tuning_specs``, tuning trials) and extrapolate."""
    store = ResultStore(results)
    every = list(tuning_specs) + list(specs)
    todo = ResultStore(Path(results) / TUNING_DIR).todo(tuning_specs) + store.todo(specs)
    classes: dict[str, list[RunSpec]] = {}
    for spec in every:
        classes.setdefault(cost_class(spec), []).append(spec)
    representatives = [group[0] for group in classes.values()]
    concurrent = max(1, min(slots, len(todo) or 1))
    jobs = [representatives[i % len(representatives)] for i in range(max(len(representatives), concurrent))]
    context = multiprocessing.get_context("spawn")
    root = str(data_root) if data_root else None
    with ProcessPoolExecutor(max_workers=concurrent, mp_context=context) as pool:
        futures = [pool.submit(probe, spec.to_dict(), root, device, loading, threads) for spec in jobs]
        measured: dict[str, list[dict[str, Any]]] = {}
        for spec, future in zip(jobs, futures):
            measured.setdefault(cost_class(spec), []).append(future.result())
    todo_keys = {spec.run_id for spec in todo}
    rows = []
    seconds_todo: list[float] = []
    starts = []
    for key, group in classes.items():
        samples = measured[key]
        mean = {name: sum(s[name] for s in samples) / len(samples) for name in samples[0]}
        mean |= {name: max(s[name] for s in samples) for name in ("peak_memory_bytes", "cuda_peak_bytes")}
        mean |= {name: int(mean[name]) for name in Probe.__dataclass_fields__ if isinstance(samples[0][name], int)}
        run = estimate(group[0], mean)
        left = sum(1 for spec in group if spec.run_id in todo_keys)
        rows.append((run, len(group), left))
        seconds_todo += [run.seconds] * left
        starts.append(run.worker_start)
    seconds_todo.sort(reverse=True)
    cache_images, cache_seconds = 0, 0.0
    if loading.image_cache:  # built before the first run, by a process per core
        cache_images, cache_seconds = _image_cache_cost(data_root, measured, classes, cores=usable_cores())
    plan = GridPlan(
        total=len(every),
        done=len(every) - len(todo),
        todo=list(todo),
        classes=rows,
        slots=concurrent,
        wall_seconds=schedule(seconds_todo, concurrent, start=max(starts, default=0.0)) + cache_seconds,
        run_seconds=sum(seconds_todo),
        store_bytes=sum(run.store_bytes * count for run, count, _ in rows),
        cache_images=cache_images,
        cache_seconds=cache_seconds,
    )
    return plan


def _image_cache_cost(
    data_root: Path | None,
    measured: dict[str, list[dict[str, Any]]],
    classes: dict[str, list[RunSpec]],
    *,
    cores: int,
) -> tuple[int, float]:
    """Images the grid's image caches still lack, and the time to decode them on the cores."""
    annotations: dict[str, Any] = {}
    seen: set[str] = set()
    images, seconds = 0, 0.0
    for key, group in classes.items():
        spec = group[0]
        source = DATASETS.get(spec.dataset)(**dict(spec.data_options))
        data_key = json.dumps([spec.dataset, spec.data_options], default=str)
        if data_key not in annotations:
            annotations[data_key] = source.load(data_root)
        annotation = annotations[data_key]
        per_image = sum(s["decode_per_image"] for s in measured[key]) / len(measured[key])
        train = spec.train
        for needs in image_needs(
            annotation,
            num_views=source.views_per_study(annotation),
            image_size=train.image_size,
            augment=train.augment,
            decode=train.image_decode,
        ):
            folder = str(needs.folder())
            if folder not in seen:
                seen.add(folder)
                lacking = missing_images(needs)
                images += lacking
                seconds += lacking * per_image / max(1, cores)
    return images, seconds


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def format_plan(plan: GridPlan, *, executor: str, threads: int, device: str) -> str:
    """The plan as text: one row per cost class, then the whole grid."""
    from tabulate import tabulate

    lines = [
        f"plan: {plan.total} runs, {plan.done} done, {len(plan.todo)} to run; --executor {executor}, "
        f"{plan.slots} run(s) at a time, {threads} torch thread(s) each, on {device}",
        f"per run, from {STEPS} timed training steps of each kind of run (runs that differ only by seed cost alike):",
    ]
    rows = []
    for run, count, left in plan.classes:
        s = run.spec
        parts = run.parts
        memory = _size(run.cuda_peak_bytes) + " GPU" if run.cuda_peak_bytes else _size(run.peak_memory_bytes)
        rows.append(
            [
                s.label,
                s.backbone,
                s.dataset,
                s.size,
                f"{count} ({left})",
                duration(run.seconds),
                duration(parts["training"]),
                duration(parts["validation"]),
                duration(parts["test"]),
                memory,
                _size(run.store_bytes),
                _size(run.checkpoint_bytes),
            ]
        )
    headers = ["method", "backbone", "dataset", "size", "runs (to do)", "per run", "training", "validation"]
    headers += ["test", "peak memory", "store", "checkpoint"]
    lines.append(tabulate(rows, headers=headers, tablefmt="simple"))
    if plan.cache_images:
        lines.append(
            f"image caches: {plan.cache_images} images to decode before the first run, "
            f"about {duration(plan.cache_seconds)}"
        )
    if plan.todo:
        lines.append(
            f"whole grid: about {duration(plan.wall_seconds)} of wall clock for the {len(plan.todo)} runs to do "
            f"({duration(plan.run_seconds)} of run time on {plan.slots} slot(s)); {_size(plan.store_bytes)} in the "
            "store when all are done (a running run also holds its checkpoint)"
        )
    else:
        lines.append("whole grid: every run is done")
    if executor != "local":
        lines.append(
            f"wall clock assumes {plan.slots} run(s) at a time; on --executor {executor} it depends on how many "
            "tasks the cluster runs at once (the per-run times hold on this machine's hardware)"
        )
    return "\n".join(lines)


def plan_text(
    specs: Sequence[RunSpec],
    results: Path,
    executor: Executor,
    name: str,
    tune: int,
    device: str | None,
    data_root: Path | None,
    loading: LoadSettings,
) -> str:
    """``mtlbench run --plan``: probe and extrapolate ``specs`` for ``executor`` (and ``tune``
    trials per method group, which run first), as text."""
    trials = [t for group in plan_trials(specs, tune).values() for t in group] if tune else []
    todo = ResultStore(results).todo(specs)
    if isinstance(executor, LocalExecutor):
        slots, threads = executor.workers_for(max(1, len(todo) + len(trials))), executor.threads
    else:  # a cluster runs as many as it has room for: per-run figures hold, the wall clock is for one slot
        slots, threads = 1, int(getattr(executor, "cpus_per_task", 1))
    chosen_device = str(pick_device(device))
    plan = plan_grid(
        specs,
        results,
        slots=slots,
        threads=threads,
        device=chosen_device,
        data_root=data_root,
        loading=loading,
        tuning_specs=trials,
    )
    return format_plan(plan, executor=name, threads=threads, device=chosen_device)
