"""Validation of a dataset folder, with messages precise enough to fix the data by."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from mtlbench.data.annotation import load_annotation
from mtlbench.data.labels import attach_labels
from mtlbench.data.schema import CHEXPERT_LABELS, SPLITS, Example
from mtlbench.errors import DataError
from mtlbench.textfiles import shown

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
    return ", ".join(shown(item) for item in items[:SHOWN]) + more


def check_dataset(
    folder: Path,
    *,
    name: str,
    check_images: bool = True,
    open_images: bool = False,
    labels_csv: Path | None = None,
) -> CheckReport:
    """Check ``folder``/annotation.json and its images (and the labels CSV joined to it, if given).

    Existence of every image is checked by default; ``open_images`` also decodes them (slow on
    MIMIC-CXR's 370k images, so only on request: `mtlbench data check --open-images`).
    """
    folder = Path(folder)
    report = CheckReport(name=name, folder=folder)
    try:
        annotation = load_annotation(folder / "annotation.json", name=name)
        if labels_csv is not None:
            annotation = attach_labels(annotation, csv_path=labels_csv)
    except DataError as err:
        report.errors.append(str(err))
        return report
    examples = [ex for s in SPLITS for ex in annotation.splits[s]]
    report.summary["split sizes"] = {s: len(annotation.splits[s]) for s in SPLITS}
    empty_splits = [s for s in SPLITS if not annotation.splits[s]]
    if empty_splits:
        report.errors.append(
            f"the split(s) {empty_splits} hold no example; training needs examples in each of {list(SPLITS)} "
            "(train to learn, val to choose the epoch, test to score)"
        )
    views = Counter(len(ex.image_paths) for ex in examples)
    report.summary["images per study"] = ", ".join(f"{n}: {views[n]}" for n in sorted(views))
    empty = [ex.id for ex in examples if not ex.report.strip()]
    if empty:
        report.errors.append(f"{len(empty)} examples have an empty report: {_examples(empty)}")
    for split in SPLITS:
        within = Counter(ex.id for ex in annotation.splits[split])
        duplicated = sorted(i for i, n in within.items() if n > 1)
        if duplicated:
            report.errors.append(f"{len(duplicated)} ids appear twice in {split}: {_examples(duplicated)}")
    ids_per_split = [{ex.id for ex in annotation.splits[s]} for s in SPLITS]
    shared = sorted({i for a, b in ((0, 1), (0, 2), (1, 2)) for i in ids_per_split[a] & ids_per_split[b]})
    if shared:
        report.errors.append(f"{len(shared)} ids are in more than one split (leakage): {_examples(shared)}")
    no_images = [ex.id for ex in examples if not ex.image_paths]
    if no_images:
        report.errors.append(f"{len(no_images)} examples list no image: {_examples(no_images)}")
    if check_images:
        _check_images(report, Path(annotation.image_dir), examples, open_images)
    _check_labels(report, examples)
    return report


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a path the system cannot even look up (too long) is not."""
    try:
        return path.is_file()
    except OSError:
        return False


def _check_images(report: CheckReport, image_dir: Path, examples: list[Example], open_images: bool) -> None:
    missing, unreadable = [], []
    paths = [(ex.id, rel) for ex in examples for rel in ex.image_paths]
    for example_id, rel in paths:
        path = image_dir / rel
        if not _is_file(path):
            missing.append(f"{rel} (id {example_id})")
        elif open_images:
            try:
                with Image.open(path) as image:
                    image.verify()
            except Exception:  # Pillow raises OSError, SyntaxError, ValueError, DecompressionBombError... on bad files
                unreadable.append(f"{rel} (id {example_id})")
    report.summary["images"] = len(paths)
    if missing:
        where = f"under {image_dir}" if image_dir.is_dir() else f"(the folder {image_dir} does not exist)"
        report.errors.append(f"{len(missing)} of {len(paths)} image files are missing {where}: {_examples(missing)}")
    if unreadable:
        report.errors.append(f"{len(unreadable)} image files cannot be read: {_examples(unreadable)}")


def _check_labels(report: CheckReport, examples: list[Example]) -> None:
    labelled = [ex for ex in examples if ex.labels is not None]
    report.summary["label coverage"] = f"{len(labelled)}/{len(examples)} studies carry labels"
    if labelled:
        positives = {
            label: sum(1 for ex in labelled if ex.labels is not None and ex.labels[i] == 1.0) / len(labelled)
            for i, label in enumerate(CHEXPERT_LABELS)
        }
        report.summary["positive rate"] = ", ".join(f"{k} {v:.1%}" for k, v in positives.items())
        never = [k for k, v in positives.items() if v == 0]
        if never:
            report.warnings.append(f"no positive study for {never}")
    if len(labelled) < len(examples):
        report.warnings.append(
            f"{len(examples) - len(labelled)} studies have no labels: the configured labeler will label their reports"
        )
