"""The in-memory form of an R2Gen-style dataset, shared by every reader and consumer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CHEXPERT_LABELS: tuple[str, ...] = (
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
    "No Finding",
)
"""The 14 CheXpert observations in CheXbert order."""

COMPETITION_LABELS: tuple[str, ...] = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")

# CheXpert label codes, as in the MIMIC-CXR-JPG CSVs; "not mentioned" is NaN.
POSITIVE, NEGATIVE, UNCERTAIN = 1.0, 0.0, -1.0
BLANK = math.nan

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


UNCERTAIN_POLICIES = ("positive", "negative")
"""How a CheXpert 'uncertain' finding counts: as present (U-Ones) or absent (U-Zeros)."""


def binarize(code: float, uncertain: str = "positive") -> int:
    """A CheXpert code as 0/1 under the uncertain policy ("positive" or "negative"); blank is 0."""
    if code == POSITIVE:
        return 1
    if code == UNCERTAIN:
        if uncertain not in UNCERTAIN_POLICIES:
            raise ValueError(f"uncertain policy must be 'positive' or 'negative', got {uncertain!r}")
        return 1 if uncertain == "positive" else 0
    return 0
