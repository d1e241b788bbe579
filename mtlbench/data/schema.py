"""The in-memory form of an R2Gen-style dataset, shared by every reader and consumer."""

from __future__ import annotations

from dataclasses import dataclass, field

from mtlbench.chexpert import (  # noqa: F401 (the vocabulary lives on the ground floor; re-exported for data/)
    BLANK,
    CHEXPERT_LABELS,
    COMPETITION_LABELS,
    NEGATIVE,
    POSITIVE,
    UNCERTAIN,
    UNCERTAIN_POLICIES,
    binarize,
)

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Example:
    """One study: its report, its image files (relative to the image folder) and optional labels."""

    id: str
    report: str
    image_paths: tuple[str, ...]
    labels: tuple[float, ...] | None = None
    """14 CheXpert codes (1 pos, 0 neg, -1 uncertain, NaN blank) in CheXbert order, when known."""
    study_id: str | None = None
    subject_id: str | None = None


@dataclass(frozen=True)
class Annotation:
    """A dataset's splits as read from ``annotation.json``; image paths resolve against ``image_dir``."""

    name: str
    splits: dict[str, list[Example]] = field(default_factory=dict)
    image_dir: str = ""
