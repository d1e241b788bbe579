"""Reader of R2Gen-style ``annotation.json`` files (IU X-Ray, MIMIC-CXR, PromptMRG labels)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtlbench.data.schema import BLANK, CHEXPERT_LABELS, NEGATIVE, POSITIVE, SPLITS, UNCERTAIN, Annotation, Example
from mtlbench.errors import DataError
from mtlbench.textfiles import read_json, shown

# PromptMRG writes 18 ints per study: 0 blank, 1 positive, 2 negative, 3 uncertain; the first 14
# are the CheXpert observations in CheXbert order.
_PROMPTMRG_CODES = {0: BLANK, 1: POSITIVE, 2: NEGATIVE, 3: UNCERTAIN}


def load_annotation(path: Path, *, name: str) -> Annotation:
    """Read ``path``; the images are expected in the ``images`` folder beside it.

    Strict as :mod:`mtlbench.textfiles` reads (UTF-8, no duplicate keys); every malformed part
    is refused in one line naming the file, the example (split and index, or id) and the fix.
    """
    path = Path(path)
    label = f"{name}: {path}"
    raw = read_json(path, label=label, error=DataError)
    if not isinstance(raw, Mapping):
        raise DataError(f"{label} must hold an object with the splits {list(SPLITS)}; it holds a {_kind(raw)}")
    missing = [s for s in SPLITS if s not in raw]
    if missing:
        raise DataError(f"{label} has no split {missing} (it has {shown(list(raw)[:6])}); R2Gen layout needs {SPLITS}")
    for split in SPLITS:
        if not isinstance(raw[split], list):
            raise DataError(f"{label}: split {split!r} must be a list of examples; it is a {_kind(raw[split])}")
    splits = {split: [_example(item, split, i, label) for i, item in enumerate(raw[split])] for split in SPLITS}
    return Annotation(name=name, splits=splits, image_dir=str(path.parent / "images"))


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "text", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


def _identifier(item: Mapping[str, Any], key: str, where: str) -> str | None:
    """An id-like field: a text or an integer (JSON writers differ), kept as text."""
    value = item.get(key)
    if value is None and key != "id":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise DataError(f"{where}: {key!r} must be a non-empty text or an integer; it is {shown(value)}")
    return str(value)


def _example(item: Any, split: str, index: int, label: str) -> Example:
    where = f"{label} {split}[{index}]"
    if not isinstance(item, Mapping):
        raise DataError(f"{where} must be an object with 'id', 'report' and 'image_path'; it is a {_kind(item)}")
    if "id" not in item:
        raise DataError(f"{where} has no 'id'; every example needs one")
    example_id = _identifier(item, "id", where)
    where = f"{where} (id {shown(example_id)})"
    report = item.get("report")
    if not isinstance(report, str):
        raise DataError(f"{where} has no 'report' text; every example needs its reference report")
    image_path = item.get("image_path", [])
    if isinstance(image_path, str):
        image_path = [image_path]
    if not isinstance(image_path, list) or not all(isinstance(p, str) for p in image_path):
        raise DataError(f"{where}: 'image_path' must be a list of paths relative to the images folder")
    return Example(
        id=str(example_id),
        report=report,
        image_paths=tuple(image_path),
        labels=_labels(item.get("labels"), where),
        study_id=_identifier(item, "study_id", where),
        subject_id=_identifier(item, "subject_id", where),
    )


def _labels(raw: Any, where: str) -> tuple[float, ...] | None:
    """PromptMRG's 18 ints, or 14 CheXpert codes (1/0/-1/null) as mtlbench writes them."""
    if raw is None:
        return None
    n = len(CHEXPERT_LABELS)
    expected = "1, 0, -1 or null in CheXbert order (or PromptMRG's 18 ints 0-3)"
    if not isinstance(raw, list) or len(raw) < n:
        raise DataError(f"{where}: 'labels' must list at least {n} codes, each {expected}")
    if len(raw) == 18 and all(type(v) is int and v in _PROMPTMRG_CODES for v in raw):
        return tuple(_PROMPTMRG_CODES[v] for v in raw[:n])
    bad = [v for v in raw[:n] if v is not None and (isinstance(v, bool) or not isinstance(v, int | float))]
    codes = () if bad else tuple(BLANK if v is None else float(v) for v in raw[:n])
    if bad or not all(math.isnan(c) or c in (POSITIVE, NEGATIVE, UNCERTAIN) for c in codes):
        raise DataError(f"{where}: 'labels' codes must be {expected}; found {shown(bad or raw[:n])}")
    return codes
