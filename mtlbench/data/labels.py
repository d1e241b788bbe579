"""The 14 CheXpert labels of every study, from the best source available.

Order of preference: the annotation's own labels (PromptMRG's ``labels``); the MIMIC-CXR-JPG
chexpert/negbio CSV joined on study_id; the configured labeler run on the reference report,
cached on disk under a key made of the labeler's ``cache_key`` (its name and version) and a hash
of the reports, so a changed labeler never reuses stale labels. Codes stay CheXpert's (1, 0,
-1, NaN); how "uncertain" becomes a target is the consumer's explicit policy.
"""

from __future__ import annotations

import bz2
import csv
import dataclasses
import gzip
import hashlib
import io
import json
import lzma
import math
import os
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtlbench.data.schema import CHEXPERT_LABELS, Annotation, Example
from mtlbench.errors import DataError
from mtlbench.textfiles import decode_utf8, read_bytes, shown

LabelFunction = Callable[[list[str]], list[tuple[float, ...]]]
_CODES = {1.0, 0.0, -1.0}


_DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.decompress,
    ".bz2": bz2.decompress,
    ".xz": lzma.decompress,
}
"""Compressions of a labels CSV told by its suffix (MIMIC-CXR-JPG ships ``.csv.gz``)."""


def _csv_text(path: Path, label: str) -> str:
    data = read_bytes(path, label=label, error=DataError)
    decompress = _DECOMPRESS.get(path.suffix.lower())
    if decompress is not None:
        try:
            data = decompress(data)
        except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as err:
            raise DataError(
                f"{label} is not a valid {path.suffix} file ({shown(str(err), 80)}); download it again, or "
                "decompress it yourself and pass the .csv"
            ) from None
    return decode_utf8(data, label=label, error=DataError)


def read_label_csv(path: Path) -> dict[str, tuple[float, ...]]:
    """study_id -> 14 codes from a MIMIC-CXR-JPG ``*-chexpert.csv(.gz)`` / ``*-negbio.csv(.gz)``.

    UTF-8 (a byte-order mark is dropped), plain or .gz/.bz2/.xz; a header naming a column twice,
    a row without study_id, a study_id twice or a value that is not a CheXpert code (1.0, 0.0,
    -1.0, blank) is refused in one line naming the row (its line in the file) and the column.
    """
    path = Path(path)
    label = f"labels CSV {path}"
    text = _csv_text(path, label)
    try:
        header = next(csv.reader(io.StringIO(text)), [])
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, csv.Error) as err:  # pandas' ParserError and EmptyDataError are ValueErrors
        problem = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{label} cannot be read as CSV: {shown(problem, 100)}; fix it there") from None
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise DataError(f"{label} names the columns {shown(twice)} twice in its header; each column may appear once")
    if "study_id" not in frame.columns:
        raise DataError(
            f"{label} has no study_id column (it has {shown(list(frame.columns)[:4])}...); "
            "expected MIMIC-CXR-JPG's chexpert/negbio CSV: subject_id, study_id, then the 14 labels"
        )
    missing = [name for name in CHEXPERT_LABELS if name not in frame.columns]
    if missing:
        raise DataError(f"{label} lacks the label columns {missing}")
    values = np.empty((len(frame), len(CHEXPERT_LABELS)))
    for column, name in enumerate(CHEXPERT_LABELS):
        cells = frame[name].astype(str).str.strip()
        parsed = pd.to_numeric(cells.where(cells != ""), errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero((cells != "").to_numpy() & ~np.isin(parsed, list(_CODES)))
        if len(bad):
            row = int(bad[0])
            raise DataError(
                f"{label} line {row + 2}, column {name!r}: {shown(frame[name].iloc[row])} is not a CheXpert code "
                f"({len(bad)} such cells in the column); label values must be 1.0, 0.0, -1.0 or blank"
            )
        values[:, column] = parsed
    ids = [str(s).strip().removeprefix("s").removesuffix(".0") for s in frame["study_id"]]
    blank = [i for i, sid in enumerate(ids) if not sid]
    if blank:
        raise DataError(f"{label} line {blank[0] + 2} has no study_id; every row needs one")
    duplicated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicated:
        raise DataError(f"{label}: {len(duplicated)} study_ids appear twice, e.g. {shown(duplicated[:3])}")
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
