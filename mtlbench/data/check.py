"""Validation of a dataset folder, with messages precise enough to fix the data by."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from mtlbench.data.annotation import load_annotation
from mtlbench.data.schema import CHEXPERT_LABELS, SPLITS
from mtlbench.errors import DataError

SHOWN = 3
"""How many offending examples a message names."""


@dataclass
class CheckReport:
    """What ``check_dataset`` found: errors make training refuse the dataset, warnings do not."""

    name: str
    folder: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def format(self) -> str:
        lines = [f"{self.name} at {self.folder}: {'OK' if self.ok else 'FAILED'}"]
        lines += [f"  {key}: {value}" for key, value in self.summary.items()]
        lines += [f"  error: {e}" for e in self.errors]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _examples(items: list[str]) -> str:
    more = f", ... ({len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def check_dataset(folder: Path, *, name: str, check_images: bool = True, open_images: bool = False) -> CheckReport:
    """Check ``folder``/annotation.json and its images.

    Existence of every image is checked by default; ``open_images`` also decodes them (slow on
    MIMIC-CXR's 370k images, so only on request: `mtlbench data check --open-images`).
    """
    folder = Path(folder)
    report = CheckReport(name=name, folder=folder)
    try:
        annotation = load_annotation(folder / "annotation.json", name=name)
    except DataError as err:
        report.errors.append(str(err))
        return report
    report.summary["split sizes"] = {s: len(annotation.splits[s]) for s in SPLITS}
    empty = [ex.id for s in SPLITS for ex in annotation.splits[s] if not ex.report.strip()]
    if empty:
        report.errors.append(f"{len(empty)} examples have an empty report: {_examples(empty)}")
    counts = Counter(ex.id for s in SPLITS for ex in annotation.splits[s])
    for split in SPLITS:
        within = Counter(ex.id for ex in annotation.splits[split])
        duplicated = sorted(i for i, n in within.items() if n > 1)
        if duplicated:
            report.errors.append(f"{len(duplicated)} ids appear twice in {split}: {_examples(duplicated)}")
    ids_per_split = [{ex.id for ex in annotation.splits[s]} for s in SPLITS]
    shared = sorted(i for i in counts if sum(i in ids for ids in ids_per_split) > 1)
    if shared:
        report.errors.append(f"{len(shared)} ids are in more than one split (leakage): {_examples(shared)}")
    no_images = [ex.id for s in SPLITS for ex in annotation.splits[s] if not ex.image_paths]
    if no_images:
        report.errors.append(f"{len(no_images)} examples list no image: {_examples(no_images)}")
    if check_images:
        image_dir = Path(annotation.image_dir)
        missing, unreadable = [], []
        paths = [p for s in SPLITS for ex in annotation.splits[s] for p in ex.image_paths]
        for rel in paths:
            path = image_dir / rel
            if not path.is_file():
                missing.append(rel)
            elif open_images:
                try:
                    with Image.open(path) as image:
                        image.verify()
                except OSError:
                    unreadable.append(rel)
        report.summary["images"] = len(paths)
        if missing:
            report.errors.append(
                f"{len(missing)} of {len(paths)} image files are missing under {image_dir}: {_examples(missing)}"
            )
        if unreadable:
            report.errors.append(f"{len(unreadable)} image files cannot be read: {_examples(unreadable)}")
    labelled = [ex for s in SPLITS for ex in annotation.splits[s] if ex.labels is not None]
    total = sum(len(annotation.splits[s]) for s in SPLITS)
    report.summary["label coverage"] = f"{len(labelled)}/{total} studies carry labels"
    if labelled:
        positives = {
            label: sum(1 for ex in labelled if ex.labels[i] == 1.0) / len(labelled)
            for i, label in enumerate(CHEXPERT_LABELS)
        }
        report.summary["positive rate"] = ", ".join(f"{k} {v:.1%}" for k, v in positives.items())
        never = [k for k, v in positives.items() if v == 0 and not math.isnan(v)]
        if never:
            report.warnings.append(f"no positive study for {never}")
    elif total:
        report.warnings.append("no labels in the annotation: the configured labeler will label the reports")
    return report
