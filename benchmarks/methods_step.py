"""Training-step time of every registered method as a ratio to `ls` and to the K-backward floor.

Each round times one step of every method in a shuffled order on the same batch, so slow
drift of the machine (other processes, thermal state) hits all methods alike; the ratio
of medians over rounds is reported, with the spread (interquartile range over the median).
``--repeats N`` does the whole measurement N times and reports the median ratio and its range.
Default backbone (tiny CNN + Transformer, 64 px, 2 views, 60-token reports, batch 16),
K = 2 (report, cls) and K = 3 (report, cls, align). A step is the training pipeline's own
(``Trainer.step``: forward, the engine, clipping, AdamW, method hooks such as FAMO's extra
forward pass), without the diagnostic probes of loss-weighting methods (``probe_every=0``).

The K-backward floor is the cheapest step a gradient method can have in this engine: forward,
K backward passes over the shared trunk (the engine's per-task gradients), the engine's
diagnostics, clipping and AdamW, with a "method" that only sums the K rows. A gradient method's
ratio to it is the cost of the method itself (its solver, its state, extra Gram matrices).

    .venv/bin/python benchmarks/methods_step.py --rounds 15 --threads 1 --out benchmarks/methods_step.md
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import time
from pathlib import Path

import torch

from mtlbench.backbones import BACKBONES, BackboneConfig
from mtlbench.data.batch import Batch
from mtlbench.methods import METHODS, Aggregation, Method, create
from mtlbench.train.config import TrainConfig
from mtlbench.train.step import Trainer

FLOOR = "K-backward floor"
"""The row of the floor: forward + K backward passes + the engine's own work + AdamW, no method."""


class KBackwardFloor(Method):
    """Sums the K task gradients: the engine's K backward passes with no method work on top."""

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        return Aggregation(direction=grads.sum(dim=0), weights=torch.ones(grads.shape[0], dtype=grads.dtype))


class _Words:
    def decode(self, ids: list[int]) -> str:
        return " ".join(str(i) for i in ids)


def _batch(batch_size: int, image_size: int, length: int, vocab: int) -> Batch:
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, vocab, (batch_size, length), generator=g)
    tokens[:, 0] = 0
    tokens[:, -1] = 0
    return Batch(
        ids=tuple(str(i) for i in range(batch_size)),
        images=torch.randn(batch_size, 2, 3, image_size, image_size, generator=g),
        tokens=tokens,
        mask=torch.ones(batch_size, length),
        labels=torch.randint(0, 2, (batch_size, 14), generator=g).float(),
    )


def _setup(name: str, tasks: tuple[str, ...], vocab: int) -> Trainer:
    """The training pipeline's own step (engine, clipping, optimiser, method hooks) for ``name``."""
    torch.manual_seed(0)
    model = BACKBONES.get("transformer")(BackboneConfig(vocab_size=vocab, tasks=tasks), _Words())
    config = TrainConfig(probe_every=0, epochs=2)
    # a schedule names its stages' tasks: classification first, then the rest (its defaults for K = 2)
    params = {"stages": ["cls", ",".join(t for t in tasks if t != "cls")]} if name == "staged" else {}
    method = KBackwardFloor() if name == FLOOR else create(name, **params)
    trainer = Trainer(model, method, config, torch.device("cpu"))
    trainer.start_epoch(0)
    return trainer


def _step(trainer: Trainer, batch: Batch) -> float:
    start = time.perf_counter()
    trainer.step(batch)
    return time.perf_counter() - start


def measure(
    tasks: tuple[str, ...], rounds: int, warmup: int, names: list[str], vocab: int = 300
) -> dict[str, list[float]]:
    """Step seconds per method and round, all methods (and the floor) interleaved in each round."""
    supported = set(BACKBONES.get("transformer").supported_tasks())
    if not set(tasks) <= supported:
        return {}
    batch = _batch(16, 64, 60, vocab)
    setups = {name: _setup(name, tasks, vocab) for name in [*names, FLOOR]}
    times: dict[str, list[float]] = {name: [] for name in setups}
    order = list(setups)
    rng = random.Random(0)
    for r in range(warmup + rounds):
        rng.shuffle(order)
        for name in order:
            seconds = _step(setups[name], batch)
            if r >= warmup:
                times[name].append(seconds)
    return times


def _spread(ts: list[float]) -> float:
    """Interquartile range over the median: how noisy the machine was for this method."""
    q = statistics.quantiles(ts, n=4)
    return (q[2] - q[0]) / statistics.median(ts)


def _ratios(runs: list[dict[str, list[float]]], name: str, base: str) -> list[float]:
    """Per repeat: median step of ``name`` over median step of ``base`` (measured in the same rounds)."""
    return [statistics.median(run[name]) / statistics.median(run[base]) for run in runs]


def _ratio_cell(values: list[float]) -> str:
    middle = statistics.median(values)
    return f"{middle:.2f}" if len(values) == 1 else f"{middle:.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1, help="whole measurements, each with its own rounds")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--methods", default="all", help="comma-separated names (ls is always measured)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--append", action="store_true", help="add a section to --out instead of replacing it")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = METHODS.expand(args.methods)
    names = names if "ls" in names else ["ls", *names]
    cells = {"2": ("report", "cls"), "3": ("report", "cls", "align")}
    lines = [
        "| method | "
        + " | ".join(f"K={k} step (ms) | K={k} / ls | K={k} / floor | K={k} IQR/median" for k in cells)
        + " |",
        "|---|" + "---|---|---|---|" * len(cells),
    ]
    load_before = os.getloadavg()
    runs = {
        k: [measure(tasks, args.rounds, args.warmup, names) for _ in range(args.repeats)] for k, tasks in cells.items()
    }
    load_after = os.getloadavg()
    for name in [FLOOR, *names]:
        row = []
        for k in cells:
            measured = [run for run in runs[k] if name in run]
            if not measured:
                row += ["-"] * 4
                continue
            step = statistics.median(t for run in measured for t in run[name])
            spread = statistics.median(_spread(run[name]) for run in measured)
            row += [
                f"{1000 * step:.1f}",
                _ratio_cell(_ratios(measured, name, "ls")),
                _ratio_cell(_ratios(measured, name, FLOOR)),
                f"{spread:.2f}",
            ]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    repeats = f", {args.repeats} repeats (ratio: median over repeats, range in brackets)" if args.repeats > 1 else ""
    header = (
        f"Step time per method (median of {args.rounds} interleaved rounds after {args.warmup} warm-up{repeats}), "
        f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, load average (1, 5, 15 min) {_load(load_before)} before and "
        f"{_load(load_after)} after (the load includes this benchmark's own thread).\n"
    )
    text = header + "\n" + "\n".join(lines) + "\n"
    print(text)
    if args.out:
        chosen = "" if args.methods == "all" else f" --methods {args.methods}"
        command = (
            ".venv/bin/python benchmarks/methods_step.py "
            f"--rounds {args.rounds} --warmup {args.warmup} --repeats {args.repeats} --threads {args.threads}"
            f"{chosen} --out {args.out}{' --append' if args.append else ''}"
        )
        if args.append:  # a new section under what the file already records
            with args.out.open("a") as out:
                out.write(f"\n## Run at commit {_revision()}\n\nCommand: `{command}`\n\n{text}")
        else:
            args.out.write_text(
                f"# Training-step time by method\n\nCommand: `{command}`\n\n"
                + text
                + "\nSee also `methods_nash_solver.md` (Nash-MTL's solver against cvxpy) and "
                "`methods_came_adam.md` (CAME-Grad's gain under Adam).\n"
            )


def _revision() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def _load(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    main()
