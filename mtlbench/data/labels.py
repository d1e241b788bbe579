"""The 14 CheXpert labels of every study, from the best source available.

Order of preference: the annotation's own labels (PromptMRG's ``labels``); the MIMIC-CXR-JPG
chexpert/negbio CSV joined on study_id; the configured labeler run on the reference report,
cached on disk under a key made of the labeler's ``cache_key`` (its name and version) and a hash
of the reports, so a changed labeler never reuses stale labels. Codes stay CheXpert's (1, 0,
-1, NaN); how "uncertain" becomes a target is the consumer's explicit policy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mtlbench.data.schema import CHEXPERT_LABELS, Annotation, Example
from mtlbench.errors import DataError

LabelFunction = Callable[[list[str]], list[tuple[float, ...]]]
_CODES = {1.0, 0.0, -1.0}


def read_label_csv(path: Path) -> dict[str, tuple[float, ...]]:
    """study_id -> 14 codes from a MIMIC-CXR-JPG ``*-chexpert.csv(.gz)`` / ``*-negbio.csv(.gz)``."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"labels CSV {path} does not exist") from None
    except (OSError, ValueError) as err:
        raise DataError(f"labels CSV {path} cannot be read: {err}".replace("\n", " ")) from None
    if "study_id" not in frame.columns:
        raise DataError(
            f"labels CSV {path} has no study_id column (it has {list(frame.columns)[:4]}...); "
            "expected MIMIC-CXR-JPG's chexpert/negbio CSV: subject_id, study_id, then the 14 labels"
        )
    missing = [label for label in CHEXPERT_LABELS if label not in frame.columns]
    if missing:
        raise DataError(f"labels CSV {path} lacks the label columns {missing}")
    try:
        values = frame[list(CHEXPERT_LABELS)].to_numpy(dtype=float)
    except ValueError:
        raise DataError(f"labels CSV {path}: label values must be 1.0, 0.0, -1.0 or blank") from None
    bad = sorted({float(v) for v in values.ravel() if not math.isnan(v) and float(v) not in _CODES})
    if bad:
        raise DataError(f"labels CSV {path}: label values must be 1.0, 0.0, -1.0 or blank; found {bad[:3]}")
    ids = [str(s).removeprefix("s").removesuffix(".0") for s in frame["study_id"]]
    duplicated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicated:
        raise DataError(f"labels CSV {path}: {len(duplicated)} study_ids appear twice, e.g. {duplicated[:3]}")
    return {sid: tuple(float(v) for v in row) for sid, row in zip(ids, values)}


def _study_key(example: Example) -> str | None:
    return None if example.study_id is None else example.study_id.removeprefix("s")


def attach_labels(
    annotation: Annotation,
    *,
    csv_path: Path | None = None,
    labeler: Any = None,
    labeler_name: str = "labeler",
    cache_dir: Path | None = None,
) -> Annotation:
    """A copy of ``annotation`` in which every example has labels (or None if no source has them).

    ``labeler`` is a labeler object (``.label(reports)``, optional ``.cache_key``) or a plain
    function of the reports; ``labeler_name`` names a plain function in the cache key.
    """
    from_csv = read_label_csv(csv_path) if csv_path is not None else {}
    pending: list[Example] = []
    splits: dict[str, list[Example]] = {}
    for split, examples in annotation.splits.items():
        filled = []
        for ex in examples:
            key = _study_key(ex)
            if ex.labels is None and key is not None and key in from_csv:
                ex = dataclasses.replace(ex, labels=from_csv[key])
            if ex.labels is None:
                pending.append(ex)
            filled.append(ex)
        splits[split] = filled
    if pending and labeler is not None:
        label: LabelFunction = labeler.label if hasattr(labeler, "label") else labeler
        name = str(getattr(labeler, "cache_key", labeler_name))
        labels = dict(zip((ex.id for ex in pending), _cached(label, [ex.report for ex in pending], name, cache_dir)))
        splits = {
            split: [ex if ex.labels is not None else dataclasses.replace(ex, labels=labels[ex.id]) for ex in examples]
            for split, examples in splits.items()
        }
    return dataclasses.replace(annotation, splits=splits)


def _cached(label: LabelFunction, reports: Sequence[str], name: str, cache_dir: Path | None) -> list[tuple[float, ...]]:
    if cache_dir is None:
        return [tuple(row) for row in label(list(reports))]
    digest = hashlib.sha256(json.dumps([name, list(reports)]).encode()).hexdigest()[:24]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]
    path = Path(cache_dir) / f"labels-{safe}-{digest}.json"
    if path.is_file():
        try:
            rows = json.loads(path.read_text())
            if len(rows) == len(reports):
                return [tuple(math.nan if v is None else float(v) for v in row) for row in rows]
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed
    rows = [tuple(row) for row in label(list(reports))]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # one writer per process; the rename is atomic
    tmp.write_text(json.dumps([[None if math.isnan(v) else v for v in row] for row in rows]))
    tmp.replace(path)
    return rows
