"""Which findings a synthetic study has (the truth the image shows) and what its reader reports.

Prevalences are those of the real IU X-Ray reports, rounded: the share of the 3,826 reports in
which a keyword-and-negation count (run once, offline, on the R2Gen annotation) finds each
observation positive; devices and fractures are a little more frequent than there so that the
classifier has something to learn in a 480-study train split. Co-occurrence follows clinical
patterns: edema with cardiomegaly and effusions, pneumonia with consolidation and opacity,
effusion with basal atelectasis, devices in sicker patients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtlbench.data.schema import CHEXPERT_LABELS

PREVALENCE: dict[str, float] = {
    "Enlarged Cardiomediastinum": 0.04,
    "Cardiomegaly": 0.13,
    "Lung Opacity": 0.10,
    "Lung Lesion": 0.06,
    "Edema": 0.04,
    "Consolidation": 0.04,
    "Pneumonia": 0.03,
    "Atelectasis": 0.09,
    "Pneumothorax": 0.02,
    "Pleural Effusion": 0.07,
    "Pleural Other": 0.03,
    "Fracture": 0.05,
    "Support Devices": 0.06,
}
"""Marginal probability that a study shows each finding (before co-occurrence adds some)."""

# (if this is present, that one follows with this probability)
CO_OCCURRENCE: tuple[tuple[str, str, float], ...] = (
    ("Edema", "Cardiomegaly", 0.6),
    ("Edema", "Pleural Effusion", 0.5),
    ("Pneumonia", "Consolidation", 0.5),
    ("Pneumonia", "Lung Opacity", 0.7),
    ("Consolidation", "Lung Opacity", 0.4),
    ("Pleural Effusion", "Atelectasis", 0.3),
    ("Cardiomegaly", "Enlarged Cardiomediastinum", 0.15),
)

SIDES = ("right", "left")


@dataclass(frozen=True)
class Finding:
    """A finding the image shows: where and how marked."""

    name: str
    side: str
    severity: float
    """0..1: mild .. severe; drives both the rendering and the wording ("small", "large")."""
    position: float
    """0..1: where along the lung (apex .. base) a focal finding sits."""


@dataclass(frozen=True)
class Study:
    """The truth (``findings``) and the reader's codes (``reading``: 1 pos, -1 uncertain, 0 absent)."""

    findings: tuple[Finding, ...]
    reading: dict[str, int]


def draw_study(rng: np.random.Generator, *, label_noise: float, uncertain_rate: float) -> Study:
    """The findings of one study and its reader's view of them."""
    present = {name: bool(rng.random() < p) for name, p in PREVALENCE.items()}
    for cause, effect, probability in CO_OCCURRENCE:
        if present[cause] and rng.random() < probability:
            present[effect] = True
    if sum(present.values()) >= 2 and rng.random() < 0.25:
        present["Support Devices"] = True
    findings = tuple(
        Finding(
            name=name,
            side=SIDES[int(rng.integers(2))],
            severity=float(rng.uniform(0.35, 1.0)),
            position=float(rng.uniform(0.15, 0.85)),
        )
        for name in CHEXPERT_LABELS
        if name != "No Finding" and present.get(name, False)
    )
    reading: dict[str, int] = {}
    for name in PREVALENCE:
        shown = present[name]
        if rng.random() < label_noise:
            shown = not shown  # the reader misses it, or reads a finding the image does not show
        if shown:
            reading[name] = -1 if rng.random() < uncertain_rate else 1
        else:
            reading[name] = 0
    return Study(findings=findings, reading=reading)
