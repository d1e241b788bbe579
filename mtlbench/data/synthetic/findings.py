"""Which findings a synthetic study has (the truth the image shows) and what its reader reports.

Prevalences start from the real IU X-Ray reports: the share of the train reports in which the
rule labeler (``mtlbench.metrics.rules``, run once offline on R2Gen's annotation) finds each
observation positive. They are then doubled, with a floor of 4% (enriched for abnormal studies, closer to
MIMIC-CXR's case mix than to IU's): with IU's rates half the studies are normal and a CPU-sized
model trained for minutes learns to write the normal report for every image, which would make
every method look alike. About a third of the studies have no finding (IU: two thirds). Co-occurrence follows clinical
patterns: edema with cardiomegaly and effusions, pneumonia with consolidation and opacity,
effusion with basal atelectasis, devices in sicker patients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtlbench.data.schema import CHEXPERT_LABELS

PREVALENCE: dict[str, float] = {
    # observation: 2 x the rate the rule labeler finds in IU X-Ray's 3,062 train reports (in
    # brackets), at least 0.04 so that rare findings still occur in a 480-study train split
    "Enlarged Cardiomediastinum": 0.04,  # (0.002)
    "Cardiomegaly": 0.17,  # (0.085)
    "Lung Opacity": 0.20,  # (0.165; capped: co-occurrence adds more)
    "Lung Lesion": 0.09,  # (0.047)
    "Edema": 0.04,  # (0.016)
    "Consolidation": 0.04,  # (0.009)
    "Pneumonia": 0.04,  # (0.016)
    "Atelectasis": 0.15,  # (0.076)
    "Pneumothorax": 0.04,  # (0.006)
    "Pleural Effusion": 0.08,  # (0.038)
    "Pleural Other": 0.04,  # (0.010)
    "Fracture": 0.05,  # (0.023)
    "Support Devices": 0.08,  # (0.040)
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
