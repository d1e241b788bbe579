"""The image pipeline at MIMIC-CXR's resolution: per-image cost and the data-wait share of a step.

Part 1, per image, from a full-resolution JPEG (about 2,500 x 3,000, ~1.5 MB; see mimic_shaped.py)
to the model's [3, 224, 224] tensor with R2Gen's training transform, one thread, files in the
OS cache (the decode is measured, not the disk), every path on the same images in one session:

* "before": the path of earlier mtlbench versions (RGB conversion at full size, then resize,
  crop, flip, normalise), kept literally here;
* "full decode": today's uncached path (gray stays one channel until the tensor; same pixels);
* "reduced decode": ``--image-decode reduced`` (the JPEG decoder's DCT scaling; other pixels);
* "cache": an array read from the memory-mapped image cache, then crop, flip, normalise.

Part 2, the data-wait share of a training step: the tiny backbone at image size 224 on
MIMIC-shaped studies, ``ls``, batch 16, one torch thread, reading through the image cache with
0, 1 and 2 loader worker processes, and without the cache with 2 workers. Data wait = time
blocked in ``next(batches)``; share = wait / (wait + step).

    .venv/bin/python benchmarks/data_pipeline.py --out benchmarks/data_pipeline.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from mimic_shaped import fabricate  # beside this script: python puts its folder on sys.path
from PIL import Image
from recording import load_average, machine, publish  # beside this script, as mimic_shaped

from mtlbench.backbones import BACKBONES, BackboneConfig
from mtlbench.data.images import IMAGENET_MEAN, IMAGENET_STD, augment, decode_resized
from mtlbench.data.schema import Example
from mtlbench.data.tokenizer import Tokenizer
from mtlbench.data.torch_data import StudyDataset, make_loader
from mtlbench.methods import create as create_method
from mtlbench.runner.image_cache import ImageNeeds, ImageTransform, ensure_image_cache
from mtlbench.train.config import TrainConfig
from mtlbench.train.step import Trainer

SIZE = 224


def before(path: Path, generator: torch.Generator) -> torch.Tensor:
    """The single-pass path of earlier mtlbench versions, literally."""
    with Image.open(path) as image:
        image = image.convert("RGB")
    short = round(SIZE * 256 / 224)
    w, h = image.size
    scale = short / min(w, h)
    image = image.resize((max(short, round(w * scale)), max(short, round(h * scale))), Image.BILINEAR)
    w, h = image.size
    top = int(torch.randint(0, h - SIZE + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - SIZE + 1, (1,), generator=generator))
    image = image.crop((left, top, left + SIZE, top + SIZE))
    if float(torch.rand(1, generator=generator)) < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return (torch.from_numpy(array).permute(2, 0, 1) - IMAGENET_MEAN) / IMAGENET_STD


def per_image(folder: Path, keys: list[str], repeats: int) -> dict[str, list[float]]:
    images = folder / "images"
    for key in keys:
        (images / key).read_bytes()  # into the OS cache
    cache, _ = ensure_image_cache(ImageNeeds(images, ImageTransform(SIZE, "train"), {k: [k] for k in keys}))
    paths = {
        "before": lambda k, g: before(images / k, g),
        "full decode": lambda k, g: augment(decode_resized(images / k, image_size=SIZE, train=True), image_size=SIZE,
                                            train=True, generator=g),
        "reduced decode": lambda k, g: augment(decode_resized(images / k, image_size=SIZE, train=True,
                                                              decode="reduced"), image_size=SIZE, train=True,
                                               generator=g),
        "cache": lambda k, g: augment(cache(k), image_size=SIZE, train=True, generator=g),
    }  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats):  # interleaved, so a change in the machine's load hits every path alike
        for name, make in paths.items():
            started = time.perf_counter()
            for key in keys:
                make(key, torch.Generator().manual_seed(0))
            times[name].append((time.perf_counter() - started) / len(keys))
    check = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(before(images / keys[0], check[0]), paths["cache"](keys[0], check[1]))  # same pixels
    return times


def data_wait(folder: Path, keys: list[str], steps: int, workers: int, cached: bool) -> tuple[float, float]:
    """(share of the time spent waiting for data, seconds per step) over ``steps`` training steps."""
    images = folder / "images"
    examples = [Example(id=k, report="the heart is normal . no effusion .", image_paths=(k,)) for k in keys]
    tokenizer = Tokenizer.build([e.report for e in examples], style="mimic_cxr", threshold=1, max_seq_length=100)
    pixels = None
    if cached:
        pixels, _ = ensure_image_cache(ImageNeeds(images, ImageTransform(SIZE, "train"), {k: [k] for k in keys}))
    data = StudyDataset(
        examples, images, tokenizer, num_views=1, image_size=SIZE, train=True, uncertain="positive", pixels=pixels
    )
    loader = make_loader(data, batch_size=16, shuffle=True, seed=0, workers=workers)
    torch.manual_seed(0)
    model = BACKBONES.get("transformer")(
        BackboneConfig(vocab_size=tokenizer.vocab_size, max_len=100, image_size=SIZE, num_views=1), decoder=tokenizer
    )
    trainer = Trainer(model, create_method("ls"), TrainConfig(image_size=SIZE), torch.device("cpu"))
    trainer.start_epoch(0)
    wait, work, done, epoch = 0.0, 0.0, 0, 0
    while done < steps + 2:
        loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        iterator = iter(loader)
        while done < steps + 2:
            tick = time.perf_counter()
            batch = next(iterator, None)
            if batch is None:
                break
            tock = time.perf_counter()
            trainer.step(batch)
            if done >= 2:  # the first two steps start the workers and warm up
                wait += tock - tick
                work += time.perf_counter() - tock
            done += 1
        epoch += 1
    return wait / (wait + work), (wait + work) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=None, help="folder for the MIMIC-shaped set (reused)")
    parser.add_argument("--images", type=int, default=32, help="full-resolution images timed per path")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="training steps timed per loader setting")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MTLBENCH_CACHE", str(Path(tmp) / "cache"))
        root = args.data or Path(tmp)
        folder = fabricate(root, images=args.images)
        paths = [row["image_path"][0] for row in json.loads((folder / "annotation.json").read_text())["test"]]
        keys = paths[: args.images]
        sizes = [(folder / "images" / k).stat().st_size for k in keys]
        with Image.open(folder / "images" / keys[0]) as first:
            shape = first.size
        times = per_image(folder, keys, args.repeats)
        train_keys = paths[: 16 * (args.steps + 2)]
        waits = {
            (workers, cached): data_wait(folder, train_keys, args.steps, workers, cached)
            for workers, cached in ((0, False), (0, True), (1, True), (2, True), (2, False))
        }
    load_after = load_average()
    medians = {name: statistics.median(values) for name, values in times.items()}
    lines = [
        "# Image pipeline at MIMIC-CXR resolution",
        "",
        f"Command: `.venv/bin/python benchmarks/data_pipeline.py {' '.join(sys.argv[1:])}`",
        "",
        f"{machine()}; load average (1/5/15 min) {load_before} before, {load_after} after. "
        f"{len(keys)} JPEGs of about {shape[0]} x {shape[1]} pixels, {statistics.mean(sizes) / 1e6:.2f} MB on "
        "average (fabricated: benchmarks/mimic_shaped.py).",
        "",
        "## Per image, JPEG to the training tensor (224 px), one thread",
        "",
        "| path | ms per image, each repeat | median (ms) | speed-up over before |",
        "|---|---|---|---|",
    ]
    for name, values in times.items():
        each = ", ".join(f"{1000 * v:.2f}" for v in values)
        lines.append(f"| {name} | {each} | {1000 * medians[name]:.2f} | {medians['before'] / medians[name]:.1f}x |")
    lines += [
        "",
        "## Data-wait share of a training step (tiny backbone, 224 px, batch 16, one torch thread)",
        "",
        "| loader | image cache | seconds per step | data wait share |",
        "|---|---|---|---|",
    ]
    for (workers, cached), (share, per_step) in waits.items():
        lines.append(f"| {workers} worker(s) | {'yes' if cached else 'no'} | {per_step:.3f} | {100 * share:.1f} % |")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
