"""MIMIC-CXR scale without MIMIC: the 270k-study annotation and the 3,858-report evaluation, timed.

On the fabricated MIMIC-shaped set (benchmarks/mimic_shaped.py: 270,790 / 2,130 / 3,858 studies,
a MIMIC-CXR-JPG-style labels CSV), each part in a fresh process so its peak resident memory
(ru_maxrss) is its own:

1. What a run does with the annotation before its first step, as ``run_one.prepare`` does it:
   ``mimic.load`` (the data check of 276,778 image paths, the JSON, the labels CSV joined on
   study_id), the vocabulary (R2Gen's cleaning of every training report, threshold 10), the
   three datasets (token ids and label targets of every study) and the image cache's freshness
   check (a stat of every training image). Goal: <= 60 s and <= 4 GB.
2. The label cache instead of the CSV: the rules labeler on every reference report (once), then
   a second run reading the cached labels.
3. ``mtlbench data check`` on the folder, with the labels CSV (a subprocess, as a user runs it).
   Goal: <= 2 min.
4. Evaluating the 3,858 test studies end to end: their images through the image cache (decoded
   from full-resolution JPEGs, 64 px eval variant, a process per core), beam search (beam 3,
   trigram blocking, up to MIMIC's 100 tokens) with the CPU-sized ``transformer`` backbone (at
   its random initialisation it writes 100-token reports, the slowest case), then every NLG
   metric (BLEU-1..4, METEOR, ROUGE-L, CIDEr) and clinical efficacy with the rules labeler.
   The paper-size R2Gen's beam search over the same 3,858 studies is a GPU job: gpu_check.py.

    .venv/bin/python benchmarks/mimic_scale.py --out benchmarks/mimic_scale.md
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
from mimic_shaped import CSV_NAME, fabricate  # beside this script: python puts its folder on sys.path
from recording import load_average, machine, publish  # beside this script, as mimic_shaped


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def annotation_part(root: str) -> dict[str, Any]:
    from mtlbench.data import DATASETS, Tokenizer
    from mtlbench.data.torch_data import StudyDataset
    from mtlbench.runner.array_store import source_stat
    from mtlbench.runner.image_cache import image_needs

    times: dict[str, float] = {}
    start = tick = time.perf_counter()
    source = DATASETS.get("mimic")(labels_csv=str(Path(root) / "mimic_cxr" / CSV_NAME))
    annotation = source.load(Path(root))
    times["mimic.load: data check, JSON, labels CSV join"] = time.perf_counter() - tick
    tick = time.perf_counter()
    settings = source.settings
    train_reports = [ex.report for ex in annotation.splits["train"]]
    tokenizer = Tokenizer.build(
        train_reports, style=settings.cleaning, threshold=settings.threshold, max_seq_length=settings.max_seq_length
    )
    times["vocabulary (cleaning every training report)"] = time.perf_counter() - tick
    tick = time.perf_counter()
    image_dir = Path(annotation.image_dir)
    datasets = {
        split: StudyDataset(examples, image_dir, tokenizer, num_views=1, image_size=224, train=split == "train",
                            uncertain="positive")
        for split, examples in annotation.splits.items()
    }  # fmt: skip
    times["datasets: token ids and label targets"] = time.perf_counter() - tick
    tick = time.perf_counter()
    (train_needs,) = [n for n in image_needs(annotation, num_views=1, image_size=224, augment=True, decode="full")
                      if n.transform.variant == "train"]  # fmt: skip
    stats = [source_stat(image_dir / key) for key in train_needs.studies]
    times["image cache freshness: stat of every training image"] = time.perf_counter() - tick
    labelled = sum(1 for split in annotation.splits.values() for ex in split if ex.labels is not None)
    return {
        "times": times,
        "total": time.perf_counter() - start,
        "peak": _peak(),
        "studies": sum(len(d) for d in datasets.values()),
        "labelled": labelled,
        "vocabulary": tokenizer.vocab_size,
        "stats": len(stats),
    }


def label_cache_part(root: str, cache: str) -> dict[str, Any]:
    from mtlbench.data import DATASETS, attach_labels
    from mtlbench.metrics.rules import RuleLabeler

    annotation = DATASETS.get("mimic")().load(Path(root))
    labeler = RuleLabeler()
    tick = time.perf_counter()
    attach_labels(annotation, labeler=labeler, cache_dir=Path(cache))
    cold = time.perf_counter() - tick
    tick = time.perf_counter()
    attach_labels(annotation, labeler=labeler, cache_dir=Path(cache))
    return {"cold": cold, "warm": time.perf_counter() - tick, "peak": _peak()}


def evaluation_part(root: str) -> dict[str, Any]:
    from mtlbench.backbones import BACKBONES, BackboneConfig
    from mtlbench.data import DATASETS, Tokenizer
    from mtlbench.data.torch_data import StudyDataset, make_loader
    from mtlbench.metrics import evaluate
    from mtlbench.metrics.config import EvalConfig
    from mtlbench.runner.image_cache import ensure_image_cache, image_needs
    from mtlbench.train.loop import generate_reports

    torch.set_num_threads(1)
    source = DATASETS.get("mimic")()
    annotation = source.load(Path(root))
    settings = source.settings
    tokenizer = Tokenizer.build(
        [ex.report for ex in annotation.splits["train"]],
        style=settings.cleaning,
        threshold=settings.threshold,
        max_seq_length=settings.max_seq_length,
    )
    test = annotation.__class__(name=annotation.name, splits={"test": annotation.splits["test"]},
                                image_dir=annotation.image_dir)  # fmt: skip
    (needs,) = image_needs(test, num_views=1, image_size=64, augment=True, decode="full")
    tick = time.perf_counter()
    pixels, problems = ensure_image_cache(needs)
    cache_s = time.perf_counter() - tick
    data = StudyDataset(annotation.splits["test"], Path(annotation.image_dir), tokenizer, num_views=1,
                        image_size=64, train=False, uncertain="positive", pixels=pixels)  # fmt: skip
    torch.manual_seed(0)
    model = BACKBONES.get("transformer")(
        BackboneConfig(vocab_size=tokenizer.vocab_size, max_len=settings.max_seq_length, image_size=64, num_views=1),
        decoder=tokenizer,
    )
    tick = time.perf_counter()
    ids, texts = generate_reports(model, make_loader(data, batch_size=16, shuffle=False, seed=0), torch.device("cpu"))
    generation_s = time.perf_counter() - tick
    tick = time.perf_counter()
    evaluation = evaluate(ids, texts, data.reference_texts(), config=EvalConfig())
    scoring_s = time.perf_counter() - tick
    return {
        "studies": len(ids),
        "cache": cache_s,
        "generation": generation_s,
        "scoring": scoring_s,
        "words": sum(len(t.split()) for t in texts) / len(texts),
        "metrics": sorted(evaluation.corpus),
        "problems": len(problems),
        "peak": _peak(),
    }


def in_process(function: Any, *args: Any) -> dict[str, Any]:
    """``function(*args)`` in a fresh process (its peak memory its own) that may start processes of its
    own (the image cache's build pool): a multiprocessing.Pool worker is daemonic and may not."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=None, help="folder for the MIMIC-shaped set (reused)")
    parser.add_argument("--images", type=int, default=600, help="distinct full-resolution JPEGs to fabricate")
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MTLBENCH_CACHE", str(Path(tmp) / "cache"))
        root = args.data or Path(tmp)
        folder = fabricate(root, images=args.images)
        part1 = in_process(annotation_part, str(root))
        part2 = in_process(label_cache_part, str(root), str(Path(tmp) / "labels"))
        tick = time.perf_counter()
        check = subprocess.run(
            [sys.executable, "-m", "mtlbench", "data", "check", str(folder), "--labels-csv", str(folder / CSV_NAME)],
            capture_output=True,
            text=True,
        )
        check_s = time.perf_counter() - tick
        part4 = in_process(evaluation_part, str(root))
    load_after = load_average()
    gb = 1e9
    lines = [
        "# MIMIC-CXR scale on a fabricated MIMIC-shaped set",
        "",
        f"Command: `.venv/bin/python benchmarks/mimic_scale.py {' '.join(sys.argv[1:])}`",
        "",
        f"{machine()}; load average (1/5/15 min) {load_before} before, {load_after} after.",
        "",
        f"## 1. The annotation before a run's first step ({part1['studies']} studies, "
        f"{part1['labelled']} labelled from the CSV, vocabulary {part1['vocabulary']})",
        "",
        "| step | seconds |",
        "|---|---|",
        *[f"| {name} | {seconds:.1f} |" for name, seconds in part1["times"].items()],
        f"| **total** | **{part1['total']:.1f}** |",
        "",
        f"Peak resident memory of that process: **{part1['peak'] / gb:.2f} GB** (goals: <= 60 s, <= 4 GB).",
        "",
        "## 2. Labels from the label cache instead of the CSV (rules labeler on every reference report)",
        "",
        f"First run (labels every report, writes the cache): {part2['cold']:.1f} s; every later run (reads it): "
        f"{part2['warm']:.1f} s; peak resident memory {part2['peak'] / gb:.2f} GB.",
        "",
        "## 3. `mtlbench data check` with the labels CSV",
        "",
        f"{check_s:.1f} s (goal <= 120 s), exit code {check.returncode}:",
        "",
        "```",
        check.stdout.strip()[:1500],
        "```",
        "",
        f"## 4. Evaluating the {part4['studies']} test studies end to end (tiny transformer, 64 px, beam 3)",
        "",
        "| step | seconds |",
        "|---|---|",
        f"| image cache of the test images (decoded from full-resolution JPEGs) | {part4['cache']:.1f} |",
        f"| beam search (reports of {part4['words']:.0f} words on average) | {part4['generation']:.1f} |",
        f"| scoring: {', '.join(part4['metrics'][:6])}, ... ({len(part4['metrics'])} figures) | "
        f"{part4['scoring']:.1f} |",
        f"| **total** | **{part4['cache'] + part4['generation'] + part4['scoring']:.1f}** |",
        "",
        f"Peak resident memory: {part4['peak'] / gb:.2f} GB.",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
