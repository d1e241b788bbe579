"""The 14 CheXpert labels of every study, from the best source available.

Order of preference: the annotation's own labels; the MIMIC-CXR-JPG chexpert/negbio CSV
joined on study_id; the configured labeler run on the reference report (cached on disk,
keyed by a hash of the reports and the labeler's name).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from mtlbench.data.schema import CHEXPERT_LABELS, Annotation, Example
from mtlbench.errors import DataError

Labeler = Callable[[list[str]], list[tuple[float, ...]]]


def read_label_csv(path: Path) -> dict[str, tuple[float, ...]]:
    """study_id -> 14 codes from a MIMIC-CXR-JPG ``*-chexpert.csv(.gz)`` / ``*-negbio.csv(.gz)``."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise DataError(f"labels CSV {path} cannot be read: {err}") from None
    if "study_id" not in frame.columns:
        raise DataError(f"labels CSV {path} has no study_id column; expected MIMIC-CXR-JPG's chexpert/negbio CSV")
    missing = [label for label in CHEXPERT_LABELS if label not in frame.columns]
    if missing:
        raise DataError(f"labels CSV {path} lacks the columns {missing}")
    frame = frame.astype({"study_id": str})
    values = frame[list(CHEXPERT_LABELS)].to_numpy(dtype=float)
    return {sid.removeprefix("s"): tuple(float(v) for v in row) for sid, row in zip(frame["study_id"], values)}


def attach_labels(
    annotation: Annotation,
    *,
    csv_path: Path | None = None,
    labeler: Labeler | None = None,
    labeler_name: str = "labeler",
    cache_dir: Path | None = None,
) -> Annotation:
    """A copy of ``annotation`` in which every example has labels (or None if no source has them)."""
    from_csv = read_label_csv(csv_path) if csv_path is not None else {}
    pending: list[Example] = []
    splits: dict[str, list[Example]] = {}
    for split, examples in annotation.splits.items():
        filled = []
        for ex in examples:
            if ex.labels is None and ex.study_id is not None and ex.study_id.removeprefix("s") in from_csv:
                ex = dataclasses.replace(ex, labels=from_csv[ex.study_id.removeprefix("s")])
            if ex.labels is None:
                pending.append(ex)
            filled.append(ex)
        splits[split] = filled
    if pending and labeler is not None:
        labels = dict(
            zip((ex.id for ex in pending), _cached(labeler, [ex.report for ex in pending], labeler_name, cache_dir))
        )
        splits = {
            split: [ex if ex.labels is not None else dataclasses.replace(ex, labels=labels[ex.id]) for ex in examples]
            for split, examples in splits.items()
        }
    return dataclasses.replace(annotation, splits=splits)


def _cached(labeler: Labeler, reports: Sequence[str], name: str, cache_dir: Path | None) -> list[tuple[float, ...]]:
    if cache_dir is None:
        return [tuple(row) for row in labeler(list(reports))]
    digest = hashlib.sha256(json.dumps([name, list(reports)]).encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"labels-{name}-{digest}.json"
    if path.is_file():
        return [tuple(math.nan if v is None else v for v in row) for row in json.loads(path.read_text())]
    rows = [tuple(row) for row in labeler(list(reports))]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([[None if math.isnan(v) else v for v in row] for row in rows]))
    tmp.replace(path)
    return rows
