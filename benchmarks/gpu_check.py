"""GPU check: the paper-size R2Gen on a MIMIC-shaped set, on one CUDA device.

Records, for ``r2gen --size paper`` (ResNet-101 trained end to end, 224 px, batch 16, R2Gen's
augmentation, images through the image cache, 4 loader workers, pinned memory):

* step time, peak GPU memory and the data-wait share (time blocked in ``next(batches)`` over
  the whole step) in fp32 and in bf16 autocast (``--precision bf16``);
* throughput (training steps per second, all runs together) with 1, 2 and 4 runs sharing the
  GPU (``--runs-per-gpu``), each run its own process started together;
* whether a run packed with another computes exactly what it computes alone (fp32, the first
  steps' losses compared bit for bit);
* beam search (beam 3, up to 100 tokens) over test studies, timed on ``--eval-batches`` batches
  and extrapolated to MIMIC-CXR's 3,858 test reports.

Without CUDA it prints why and exits 0 (``--device cpu --smoke`` runs every part at toy size, to
check the script itself). The MIMIC-shaped data (a few thousand full-resolution JPEGs) is
generated into a temporary folder first and never kept.

    python benchmarks/gpu_check.py --out benchmarks/gpu_check.md
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
from mimic_shaped import CSV_NAME, fabricate  # beside this script: python puts its folder on sys.path
from recording import load_average, machine, publish  # beside this script, as mimic_shaped

from mtlbench.methods import create as create_method
from mtlbench.metrics.config import EvalConfig
from mtlbench.runner.environment import seed_everything
from mtlbench.runner.image_cache import prebuild_image_caches
from mtlbench.runner.loading import LoadSettings
from mtlbench.runner.run_one import prepare
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig
from mtlbench.train.step import Trainer

TEST_STUDIES = 3_858


def _spec(csv: Path, precision: str, size: str, image_size: int) -> RunSpec:
    return RunSpec(
        "ls",
        "mimic",
        0,
        backbone="r2gen",
        size=size,
        data_options=(("labels_csv", str(csv)),),
        train=TrainConfig(batch_size=16, image_size=image_size, precision=precision),
        eval=EvalConfig(meteor=False),
    )


def train_steps(
    spec_dict: dict[str, Any], root: str, device: str, steps: int, workers: int, barrier: Any = None
) -> dict[str, Any]:
    """Train ``steps`` steps (after 3 to warm up); times, memory and the first losses."""
    spec = RunSpec.from_dict(spec_dict)
    torch_device = torch.device(device)
    if torch_device.type == "cpu":  # the smoke test: runs side by side must not each take every core
        torch.set_num_threads(1)
    seed_everything(spec.seed)
    prep = prepare(spec, Path(root), loading=LoadSettings(workers=workers), device=torch_device)
    trainer = Trainer(prep.model, create_method("ls"), spec.train, torch_device)
    trainer.start_epoch(0)
    batches = prep.train_batches(spec.seed)
    if barrier is not None:
        barrier.wait()  # packed runs start their steps together
    if torch_device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(torch_device)
    wait = work = 0.0
    losses: list[float] = []
    done, epoch, started = 0, 0, time.perf_counter()
    while done < steps + 3:
        iterator = iter(batches(epoch))
        while done < steps + 3:
            tick = time.perf_counter()
            batch = next(iterator, None)
            if batch is None:
                break
            tock = time.perf_counter()
            record = trainer.step(batch)
            if torch_device.type == "cuda":
                torch.cuda.synchronize(torch_device)
            if done == 2:
                started = time.perf_counter()
            if done >= 3:
                wait += tock - tick
                work += time.perf_counter() - tock
            losses.append(record.losses["report"])
            done += 1
        epoch += 1
    elapsed = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated(torch_device) if torch_device.type == "cuda" else 0
    return {"step": (wait + work) / steps, "wait": wait / (wait + work), "peak": peak, "losses": losses[:5],
            "steps_per_s": steps / elapsed}  # fmt: skip


def _parallel(spec: RunSpec, root: Path, device: str, steps: int, runs: int, workers: int) -> list[dict[str, Any]]:
    """``runs`` runs in their own processes, their timed steps started together. (A process pool's
    workers must not be daemons: each run starts loader workers of its own.)"""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(runs, mp_context=context) as pool:
        barrier = manager.Barrier(runs)
        jobs = [pool.submit(train_steps, spec.to_dict(), str(root), device, steps, workers, barrier)
                for _ in range(runs)]  # fmt: skip
        return [job.result() for job in jobs]


def _say(text: str) -> None:
    print(f"gpu_check: {text}", file=sys.stderr, flush=True)


def beam_search(spec: RunSpec, root: Path, device: str, batches: int) -> tuple[float, int]:
    """Seconds for ``batches`` test batches of beam search, and the studies they held."""
    torch_device = torch.device(device)
    seed_everything(spec.seed)
    prep = prepare(spec, root, loading=LoadSettings(workers=4), device=torch_device)
    model = prep.model.to(torch_device).eval()
    seconds, studies = 0.0, 0
    for i, batch in enumerate(prep.loaders["test"]):
        if i == batches + 1:
            break
        images, mask = batch.images.to(torch_device), batch.view_mask.to(torch_device)
        tick = time.perf_counter()
        model.generate(images, mask)
        if torch_device.type == "cuda":
            torch.cuda.synchronize(torch_device)
        if i:  # the first batch warms up
            seconds += time.perf_counter() - tick
            studies += len(batch)
    return seconds, studies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per measurement")
    parser.add_argument("--images", type=int, default=2000, help="distinct full-resolution JPEGs")
    parser.add_argument("--eval-batches", type=int, default=16)
    parser.add_argument("--smoke", action="store_true", help="toy sizes (to check the script on a CPU)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing measured (run it on a machine with a GPU)")
        return
    size, image_size = ("tiny", 64) if args.smoke else ("paper", 224)
    steps, images = (3, 40) if args.smoke else (args.steps, args.images)
    splits = {"test": 64 if args.smoke else TEST_STUDIES, "val": 32, "train": 64 if args.smoke else 4096}
    load_before = load_average()
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MTLBENCH_CACHE", str(Path(tmp) / "cache"))
        started = time.perf_counter()
        folder = fabricate(Path(tmp), images=images, splits=splits)
        csv = folder / CSV_NAME
        specs = {p: _spec(csv, p, size, image_size) for p in ("fp32", "bf16")}
        prebuild_image_caches(list(specs.values()), Path(tmp))
        setup = time.perf_counter() - started
        precision, packing = {}, {}
        for p, spec in specs.items():
            _say(f"{p}: {steps} steps")
            precision[p] = train_steps(spec.to_dict(), tmp, args.device, steps, 4)
        for runs in (1, 2) if args.smoke else (1, 2, 4):
            _say(f"{runs} run(s) per GPU: {steps} steps each")
            packing[runs] = _parallel(specs["fp32"], Path(tmp), args.device, steps, runs, 2)
        _say("beam search")
        seconds, studies = beam_search(specs["fp32"], Path(tmp), args.device, 2 if args.smoke else args.eval_batches)
    load_after = load_average()
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor() or "cpu"
    for p, m in precision.items():
        rows.append(f"| {p} | {m['step'] * 1000:.0f} | {m['peak'] / 1e9:.2f} | {100 * m['wait']:.1f} % |")
    alone = packing[1][0]["losses"]
    same = all(r["losses"] == alone for results in packing.values() for r in results)
    sizes = " / ".join(f"{n} {split}" for split, n in splits.items())
    lines = [
        f"# GPU check: {size}-size R2Gen on a MIMIC-shaped set ({name})",
        "",
        f"Command: `python benchmarks/gpu_check.py {' '.join(sys.argv[1:])}`",
        "",
        f"{machine()}, CUDA {torch.version.cuda}; load average {load_before} before, "
        f"{load_after} after. Data: {sizes} studies, {images} distinct full-resolution JPEGs, generated and "
        f"cached in {setup:.0f} s. {steps} timed steps per measurement, batch 16, {image_size} px.",
        "",
        "| precision | step (ms) | peak GPU memory (GB) | data wait |",
        "|---|---|---|---|",
        *rows,
        "",
        "| runs per GPU | steps/s of each run | steps/s together | vs 1 run |",
        "|---|---|---|---|",
    ]
    base = sum(r["steps_per_s"] for r in packing[1])
    for runs, results in packing.items():
        each = ", ".join(f"{r['steps_per_s']:.2f}" for r in results)
        together = sum(r["steps_per_s"] for r in results)
        lines.append(f"| {runs} | {each} | {together:.2f} | {together / base:.2f}x |")
    per_batch = seconds / max(1, studies) * 16
    lines += [
        "",
        f"Packed runs computed exactly what a run alone computes (fp32, first 5 losses bit for bit): {same}.",
        "",
        f"Beam search (beam 3, up to 100 tokens): {seconds:.1f} s for {studies} test studies, "
        f"{per_batch:.2f} s per batch of 16; extrapolated to {TEST_STUDIES} studies: "
        f"{per_batch * TEST_STUDIES / 16 / 60:.1f} min.",
        "",
        f"Step time fp32 / bf16: {precision['fp32']['step'] / precision['bf16']['step']:.2f}x.",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
