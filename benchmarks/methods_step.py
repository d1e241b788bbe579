"""Training-step time of every registered method as a ratio to `ls`, measured side by side.

Each round times one step of every method in a shuffled order on the same batch, so slow
drift of the machine (other processes, thermal state) hits all methods alike; the ratio
of medians over rounds is reported, with the spread (interquartile range over the median).
Default backbone (tiny CNN + Transformer, 64 px, 2 views, 60-token reports, batch 16),
K = 2 (report, cls) and K = 3 (report, cls, align). A step is the training pipeline's own
(``Trainer.step``: forward, the engine, clipping, AdamW, method hooks such as FAMO's extra
forward pass), without the diagnostic probes of loss-weighting methods (``probe_every=0``).

    .venv/bin/python benchmarks/methods_step.py --rounds 15 --threads 1 --out benchmarks/methods_step.md
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from pathlib import Path

import torch

from mtlbench.backbones import BACKBONES, BackboneConfig
from mtlbench.data.batch import Batch
from mtlbench.methods import METHODS, create
from mtlbench.train.config import TrainConfig
from mtlbench.train.step import Trainer


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
    trainer = Trainer(model, create(name, **params), config, torch.device("cpu"))
    trainer.start_epoch(0)
    return trainer


def _step(trainer: Trainer, batch: Batch) -> float:
    start = time.perf_counter()
    trainer.step(batch)
    return time.perf_counter() - start


def measure(tasks: tuple[str, ...], rounds: int, warmup: int, vocab: int = 300) -> dict[str, list[float]]:
    """Step seconds per method and round, all methods interleaved in each round."""
    supported = set(BACKBONES.get("transformer").supported_tasks())
    if not set(tasks) <= supported:
        return {}
    batch = _batch(16, 64, 60, vocab)
    setups = {name: _setup(name, tasks, vocab) for name in METHODS.names()}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = [
        "| method | K=2 step (ms) | K=2 ratio to ls | K=2 IQR/median "
        "| K=3 step (ms) | K=3 ratio to ls | K=3 IQR/median |",
        "|---|---|---|---|---|---|---|",
    ]
    load_before = os.getloadavg()[0]
    k2 = measure(("report", "cls"), args.rounds, args.warmup)
    k3 = measure(("report", "cls", "align"), args.rounds, args.warmup)
    load_after = os.getloadavg()[0]
    for name in METHODS.names():
        cells = []
        for res in (k2, k3):
            if name in res:
                median, base = statistics.median(res[name]), statistics.median(res["ls"])
                cells += [f"{1000 * median:.1f}", f"{median / base:.2f}", f"{_spread(res[name]):.2f}"]
            else:
                cells += ["-", "-", "-"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    header = (
        f"Step time per method (median of {args.rounds} interleaved rounds after {args.warmup} warm-up), "
        f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, 1-minute load average {load_before:.1f} before and "
        f"{load_after:.1f} after (the load includes this benchmark's own thread).\n"
    )
    text = header + "\n" + "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(
            "# Training-step time by method\n\nCommand: `.venv/bin/python benchmarks/methods_step.py "
            f"--rounds {args.rounds} --warmup {args.warmup} --threads {args.threads} --out {args.out}`\n\n"
            + text
            + "\nSee also `methods_nash_solver.md` (Nash-MTL's solver against cvxpy) and "
            "`methods_came_adam.md` (CAME-Grad's gain under Adam).\n"
        )


if __name__ == "__main__":
    main()
