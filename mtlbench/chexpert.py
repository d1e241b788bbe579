"""The CheXpert label vocabulary and how its codes become 0/1 (ground floor: data, metrics and stats import it).

A labeler (CheXpert, CheXbert, mtlbench's rules) reads 14 observations in a report, each coded
1 (positive), 0 (negative), -1 (uncertain) or blank (not mentioned, NaN). Training targets,
clinical efficacy and the statistics of a stored run all binarise them the same way, here.
"""

from __future__ import annotations

import math

import numpy as np

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
"""The 5 observations of the CheXpert competition (CE F1-mic5)."""

# CheXpert label codes, as in the MIMIC-CXR-JPG CSVs; "not mentioned" is NaN.
POSITIVE, NEGATIVE, UNCERTAIN = 1.0, 0.0, -1.0
BLANK = math.nan

UNCERTAIN_POLICIES = ("positive", "negative")
"""How a CheXpert 'uncertain' finding counts: as present (U-Ones) or absent (U-Zeros)."""


def _check_policy(uncertain: str) -> None:
    if uncertain not in UNCERTAIN_POLICIES:
        raise ValueError(f"uncertain policy must be 'positive' or 'negative', got {uncertain!r}")


def binarize(code: float, uncertain: str = "positive") -> int:
    """A CheXpert code as 0/1 under the uncertain policy ("positive" or "negative"); blank is 0."""
    if code == POSITIVE:
        return 1
    if code == UNCERTAIN:
        _check_policy(uncertain)
        return 1 if uncertain == "positive" else 0
    return 0


def binarize_codes(codes: np.ndarray, uncertain: str) -> np.ndarray:
    """CheXpert codes (1, 0, -1, NaN) as int64 0/1 under the uncertain policy; blank counts negative.

    The vectorised :func:`binarize`: the same answer for every code.
    """
    _check_policy(uncertain)
    codes = np.asarray(codes, float)
    positive = codes == POSITIVE
    if uncertain == "positive":
        positive |= codes == UNCERTAIN
    return positive.astype(np.int64)
