"""A fabricated MIMIC-CXR-shaped dataset, for measuring mtlbench at MIMIC's scale without MIMIC.

What is like MIMIC-CXR (R2Gen's annotation.json of MIMIC-CXR-JPG):

* the split sizes: 270,790 / 2,130 / 3,858 studies, one image per study used (R2Gen's setting);
* the layout: ``mimic_cxr/annotation.json`` with id (a DICOM-style id), study_id, subject_id
  (about 65,000 patients), report (FINDINGS / IMPRESSION sections, newlines), image_path
  ``pNN/pNNNNNNNN/sNNNNNNNN/<id>.jpg``; and ``mimic-cxr-2.0.0-chexpert.csv.gz`` (subject_id,
  study_id, the 14 labels in alphabetical order, 1 / 0 / -1 / blank) to join on study_id;
* report lengths: log-normal, median 50 words, clipped to 12..300, the order of MIMIC-CXR's
  findings-and-impression reports (R2Gen keeps up to 100 tokens of them);
* label rates: roughly those MIMIC-CXR-JPG's CheXpert labels have (No Finding about a third of the
  studies; support devices, effusion, opacity, atelectasis and cardiomegaly 20-30 %; the rest
  rarer, see ``LABEL_RATES``). The costs measured do not depend on them to within a few per cent;
* the images: full-resolution 8-bit gray JPEGs (quality 95) of about 2,500 x 3,000 pixels whose
  texture is set so that a file weighs about 1.5 MB, the order of MIMIC-CXR-JPG's files (a
  download of several hundred GB for its 377,110 images). Decoding cost follows the
  entropy-coded size, so this matters; the benchmarks record the mean size they met.

What is not: the words (sentences of mtlbench's synthetic generator, MIMIC-style technique and
normal-finding sentences, and a Zipf-distributed tail of made-up words standing in for MIMIC's
long vocabulary tail) and the pictures (the synthetic renderer's drawings, upscaled, with noise).
Only ``--images`` distinct JPEGs are written (test studies first, then validation, then
training); every other study's file is a hard link to one of them, so the folder is complete
for ``mtlbench data check`` at the disk cost of the distinct files.

    python benchmarks/mimic_shaped.py OUT --images 2000       # writes OUT/mimic_cxr (reused if there)

Nothing here is committed: benchmarks generate it into a temporary or cache folder.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from mtlbench.data.schema import CHEXPERT_LABELS
from mtlbench.data.synthetic.findings import SIDES, Finding, Study
from mtlbench.data.synthetic.render import frontal
from mtlbench.data.synthetic.reports import write_report

SPLITS = {"test": 3_858, "val": 2_130, "train": 270_790}
"""R2Gen's MIMIC-CXR split sizes (test first: the studies with distinct image files come first)."""

PATIENTS = 65_379
CSV_NAME = "mimic-cxr-2.0.0-chexpert.csv.gz"
"""MIMIC-CXR-JPG's CheXpert labels file, beside annotation.json here."""

LABEL_RATES: dict[str, tuple[float, float]] = {
    # observation: (positive, uncertain) share of studies, rounded, MIMIC-CXR-JPG-like
    "Support Devices": (0.29, 0.002),
    "Pleural Effusion": (0.24, 0.03),
    "Lung Opacity": (0.23, 0.02),
    "Atelectasis": (0.20, 0.05),
    "Cardiomegaly": (0.20, 0.03),
    "Edema": (0.12, 0.06),
    "Pneumonia": (0.07, 0.08),
    "Consolidation": (0.05, 0.02),
    "Pneumothorax": (0.045, 0.005),
    "Enlarged Cardiomediastinum": (0.03, 0.04),
    "Lung Lesion": (0.028, 0.005),
    "Fracture": (0.02, 0.003),
    "Pleural Other": (0.009, 0.003),
}

TECHNIQUE = (
    "PA and lateral views of the chest provided",
    "AP portable upright view of the chest",
    "Single frontal view of the chest",
    "AP and lateral chest radiographs were obtained",
)
COMPARISON = (
    "Comparison is made to the prior study from ___",
    "As compared to the previous radiograph there is no relevant change",
    "No previous images",
)
NORMAL = (
    "No free air below the right hemidiaphragm is seen",
    "Imaged osseous structures are intact",
    "The hilar contours are normal",
    "The pulmonary vasculature is not engorged",
    "There is no focal consolidation pleural effusion or pneumothorax",
    "The cardiomediastinal silhouette is within normal limits",
    "Lung volumes are low with crowding of the bronchovascular markings",
    "Surgical clips project over the upper abdomen",
    "Degenerative changes are noted in the thoracic spine",
    "The trachea is midline",
)
RARE_WORDS = 30_000
SYLLABLES = ("ba", "ce", "di", "lo", "mu", "ra", "se", "ti", "vo", "xe", "ny", "pha", "tri", "gon", "pel", "sub")
LENGTH_MEDIAN, LENGTH_SIGMA = 50, 0.45
FILE_NOISE = 1.7
"""Standard deviation of the per-pixel noise added to the upscaled drawing: about 1.5 MB per file."""


def _rare_word(k: int) -> str:
    parts = []
    k += 1
    while k:
        k, digit = divmod(k, len(SYLLABLES))
        parts.append(SYLLABLES[digit])
    return "".join(parts) + "al"


def _study(rng: np.random.Generator) -> Study:
    reading, findings = {}, []
    for name in CHEXPERT_LABELS:
        if name == "No Finding":
            continue
        positive, uncertain = LABEL_RATES[name]
        draw = rng.random()
        reading[name] = 1 if draw < positive else -1 if draw < positive + uncertain else 0
        if reading[name]:
            side = SIDES[int(rng.integers(2))]
            findings.append(Finding(name, side, float(rng.uniform(0.35, 1)), float(rng.random())))
    return Study(findings=tuple(findings), reading=reading)


def report_and_codes(rng: np.random.Generator, zipf: np.ndarray) -> tuple[str, tuple[float, ...]]:
    """A MIMIC-style report of MIMIC-like length, and the 14 codes its wording supports."""
    text, codes = write_report(_study(rng), rng)
    sentences = [s for s in text.rstrip(".").split(". ") if s]
    impression = sentences.pop() if len(sentences) > 1 else "No acute cardiopulmonary process"
    target = int(np.clip(round(math.exp(rng.normal(math.log(LENGTH_MEDIAN), LENGTH_SIGMA))), 12, 300))
    body = [str(rng.choice(TECHNIQUE)), str(rng.choice(COMPARISON)), *sentences]
    while sum(len(s.split()) for s in body) + len(impression.split()) < target:
        if rng.random() < 0.3:
            words = rng.choice(RARE_WORDS, size=int(rng.integers(1, 4)), p=zipf)
            body.append(f"There is {' '.join(_rare_word(int(w)) for w in words)} noted")
        else:
            body.append(str(rng.choice(NORMAL)))
    return f"FINDINGS:\n {'. '.join(body)}.\n \nIMPRESSION:\n {impression}.", codes


def full_resolution_jpeg(seed: int) -> bytes:
    """One gray chest-X-ray-like JPEG of about 2,500 x 3,000 pixels (portrait or landscape)."""
    rng = np.random.default_rng(seed)
    study = _study(rng)
    drawing = frontal(study.findings, (), rng, 256)
    width, height = int(rng.normal(2544, 120)), int(rng.normal(3056, 120))
    if rng.random() < 0.15:  # portable AP films are often landscape
        width, height = height, width
    image = np.asarray(Image.fromarray(drawing, "L").resize((width, height), Image.BICUBIC), dtype=np.float32)
    image = np.clip(image + rng.normal(0, FILE_NOISE, image.shape).astype(np.float32), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image, "L").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def _write_jpegs(job: tuple[str, list[tuple[int, str]]]) -> int:
    root, items = job
    for seed, rel in items:
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(full_resolution_jpeg(seed))
    return len(items)


def fabricate(
    out: Path, *, images: int, seed: int = 0, workers: int | None = None, splits: dict[str, int] | None = None
) -> Path:
    """Write (or reuse) ``out/mimic_cxr``; returns that folder. ``splits`` overrides the split
    sizes (a smaller training split for a quick GPU check; test first, then val, then train)."""
    splits = splits or SPLITS
    folder = Path(out) / "mimic_cxr"
    marker = folder / "FABRICATED"
    settings = {"images": images, "seed": seed, "splits": splits, "version": 1}
    if marker.is_file():
        made = json.loads(marker.read_text())
        if made["images"] >= images and {**made, "images": images} == settings:
            return folder  # made before, with at least as many distinct images
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, RARE_WORDS + 1, dtype=np.float64) ** -1.1
    zipf = ranks / ranks.sum()
    annotation: dict[str, list[dict]] = {}
    rows = []
    paths: list[str] = []
    index = 0
    for split, count in splits.items():
        annotation[split] = []
        for _ in range(count):
            subject = 10_000_000 + int(rng.integers(PATIENTS)) * 137
            study = 50_000_000 + index
            dicom = "-".join(f"{int(v):08x}" for v in rng.integers(0, 2**32, 5))
            rel = f"p{subject // 1_000_000}/p{subject}/s{study}/{dicom}.jpg"
            report, codes = report_and_codes(rng, zipf)
            annotation[split].append(
                {"id": dicom, "study_id": study, "subject_id": subject, "report": report, "image_path": [rel],
                 "split": split}
            )  # fmt: skip
            rows.append((subject, study, codes))
            paths.append(rel)
            index += 1
    print(f"reports of {index} studies in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    images_dir = folder / "images"
    distinct = [(seed * 1_000_003 + k, paths[k]) for k in range(min(images, len(paths)))]
    chunks = [(str(images_dir), distinct[i : i + 16]) for i in range(0, len(distinct), 16)]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        written = sum(pool.map(_write_jpegs, chunks))
    print(f"{written} full-resolution JPEGs in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    for k in range(len(distinct), len(paths)):
        target = images_dir / paths[k]
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.link(images_dir / paths[k % len(distinct)], target)
    (folder / "annotation.json").write_text(json.dumps(annotation), encoding="utf-8")
    alphabetical = sorted(CHEXPERT_LABELS)
    with gzip.open(folder / CSV_NAME, "wt", encoding="utf-8") as handle:
        handle.write(",".join(["subject_id", "study_id", *alphabetical]) + "\n")
        for subject, study, codes in rows:
            by_name = dict(zip(CHEXPERT_LABELS, codes))
            cells = ["" if math.isnan(by_name[n]) else f"{by_name[n]:.1f}" for n in alphabetical]
            handle.write(",".join([str(subject), str(study), *cells]) + "\n")
    marker.write_text(json.dumps(settings))
    print(f"fabricated {folder} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--images", type=int, default=2000, help="distinct full-resolution JPEGs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    print(fabricate(args.out, images=args.images, seed=args.seed, workers=args.workers))


if __name__ == "__main__":
    main()
