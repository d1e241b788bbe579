"""Reader of R2Gen-style ``annotation.json`` files (IU X-Ray, MIMIC-CXR, PromptMRG labels)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtlbench.data.schema import BLANK, CHEXPERT_LABELS, NEGATIVE, POSITIVE, SPLITS, UNCERTAIN, Annotation, Example
from mtlbench.errors import DataError

# PromptMRG writes 18 ints per study: 0 blank, 1 positive, 2 negative, 3 uncertain; the first 14
# are the CheXpert observations in CheXbert order.
_PROMPTMRG_CODES = {0: BLANK, 1: POSITIVE, 2: NEGATIVE, 3: UNCERTAIN}


def load_annotation(path: Path, *, name: str) -> Annotation:
    """Read ``path``; the images are expected in the ``images`` folder beside it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{name}: {path} does not exist") from None
    except OSError as err:
        raise DataError(f"{name}: cannot read {path}: {err.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{name}: {path} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from None
    if not isinstance(raw, Mapping):
        raise DataError(f"{name}: {path} must hold an object with the splits {list(SPLITS)}")
    missing = [s for s in SPLITS if s not in raw]
    if missing:
        raise DataError(f"{name}: {path} has no split {missing} (it has {sorted(raw)}); R2Gen layout needs {SPLITS}")
    splits = {split: [_example(item, split, i, path, name) for i, item in enumerate(raw[split])] for split in SPLITS}
    return Annotation(name=name, splits=splits, image_dir=str(path.parent / "images"))


def _example(item: Any, split: str, index: int, path: Path, name: str) -> Example:
    where = f"{name}: {path} {split}[{index}]"
    if not isinstance(item, Mapping):
        raise DataError(f"{where} is not an object")
    if "id" not in item:
        raise DataError(f"{where} has no 'id'")
    report = item.get("report")
    if not isinstance(report, str):
        raise DataError(f"{where} (id {item['id']}) has no 'report' text")
    image_path = item.get("image_path", [])
    if isinstance(image_path, str):
        image_path = [image_path]
    if not isinstance(image_path, list) or not all(isinstance(p, str) for p in image_path):
        raise DataError(f"{where} (id {item['id']}): 'image_path' must be a list of paths")
    return Example(
        id=str(item["id"]),
        report=report,
        image_paths=tuple(image_path),
        labels=_labels(item.get("labels"), where),
        study_id=None if item.get("study_id") is None else str(item["study_id"]),
        subject_id=None if item.get("subject_id") is None else str(item["subject_id"]),
    )


def _labels(raw: Any, where: str) -> tuple[float, ...] | None:
    """PromptMRG's 18 ints, or 14 CheXpert codes (1/0/-1/null) as mtlbench writes them."""
    if raw is None:
        return None
    n = len(CHEXPERT_LABELS)
    if not isinstance(raw, list) or len(raw) < n:
        raise DataError(f"{where}: 'labels' must list at least {n} codes in CheXbert order")
    if len(raw) == 18 and all(isinstance(v, int) and v in _PROMPTMRG_CODES for v in raw):
        return tuple(_PROMPTMRG_CODES[v] for v in raw[:n])
    codes = tuple(BLANK if v is None else float(v) for v in raw[:n])
    if not all(math.isnan(c) or c in (POSITIVE, NEGATIVE, UNCERTAIN) for c in codes):
        raise DataError(f"{where}: 'labels' codes must be 1, 0, -1 or null (or PromptMRG's 18 ints 0-3)")
    return codes
