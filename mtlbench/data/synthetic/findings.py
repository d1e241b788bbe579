"""Which findings a synthetic study has (the truth its images show) and what its reader reports.

Prevalences start from the real IU X-Ray reports: the share of R2Gen's 3,062 train reports in
which the ``rules`` labeler finds each observation positive or uncertain (in brackets below;
`mtlbench.metrics.rules`, measured once offline). They are then enriched, about 2.5 times with a
floor of 5%, towards MIMIC-CXR's sicker case mix: with IU's own rates 44% of the studies are
normal, the competition findings other than Cardiomegaly and Atelectasis occur in 1-5% of
studies (2-6 cases in a 120-study test split), and a CPU-sized model trained for minutes learns
to write the normal report for every image, which makes every method look alike. Co-occurrence
follows what the labeler finds in IU (edema with cardiomegaly in 66% of IU's edema reports,
effusion with atelectasis in 40%, consolidation with pneumonia in 44%, ...). Incidental
findings outside the 14 (IU: granulomas in 11% of the reports, degenerative changes in 13%)
block "No Finding" as CheXpert's rules make them do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtlbench.data.schema import CHEXPERT_LABELS

PREVALENCE: dict[str, float] = {
    # observation: base probability (IU X-Ray train, rules labeler, positive or uncertain)
    "Enlarged Cardiomediastinum": 0.05,  # (0.009)
    "Cardiomegaly": 0.22,  # (0.096)
    "Lung Opacity": 0.16,  # (0.193; co-occurrence with pneumonia, consolidation, atelectasis adds ~0.1)
    "Lung Lesion": 0.10,  # (0.048)
    "Edema": 0.08,  # (0.025)
    "Consolidation": 0.07,  # (0.011)
    "Pneumonia": 0.07,  # (0.038)
    "Atelectasis": 0.18,  # (0.102)
    "Pneumothorax": 0.05,  # (0.006)
    "Pleural Effusion": 0.13,  # (0.046)
    "Pleural Other": 0.05,  # (0.021)
    "Fracture": 0.06,  # (0.027)
    "Support Devices": 0.10,  # (0.047)
}
"""Probability that a study shows each finding before co-occurrence adds some."""

INCIDENTAL: dict[str, float] = {
    "granuloma": 0.11,  # calcified granulomas (IU: 0.11)
    "degenerative": 0.12,  # degenerative changes of the spine (IU: 0.13)
}
"""Findings outside the 14 that IU reports often mention; they make "No Finding" blank."""

CO_OCCURRENCE: tuple[tuple[str, str, float], ...] = (
    # (if this is present, that one follows with this probability): IU's conditional rates
    ("Edema", "Cardiomegaly", 0.6),
    ("Edema", "Pleural Effusion", 0.3),
    ("Pneumonia", "Lung Opacity", 0.7),
    ("Pneumonia", "Consolidation", 0.3),
    ("Consolidation", "Lung Opacity", 0.5),
    ("Pleural Effusion", "Atelectasis", 0.35),
    ("Enlarged Cardiomediastinum", "Cardiomegaly", 0.5),
    ("Atelectasis", "Lung Opacity", 0.2),
)

SIDES = ("right", "left")


@dataclass(frozen=True)
class Finding:
    """A finding the images show: where and how marked."""

    name: str
    side: str
    severity: float
    """0..1: mild .. severe; drives both the rendering and the wording ("small", "large")."""
    position: float
    """0..1: where along the lung (apex .. base) a focal finding sits."""


@dataclass(frozen=True)
class Study:
    """The truth (``findings``, ``incidental``) and the reader's codes (``reading``: 1 pos, -1 uncertain, 0 absent)."""

    findings: tuple[Finding, ...]
    reading: dict[str, int]
    incidental: tuple[str, ...] = ()


def draw_study(rng: np.random.Generator, *, label_noise: float, uncertain_rate: float) -> Study:
    """The findings of one study and its reader's view of them."""
    present = {name: bool(rng.random() < p) for name, p in PREVALENCE.items()}
    for cause, effect, probability in CO_OCCURRENCE:
        if present[cause] and rng.random() < probability:
            present[effect] = True
    if sum(present.values()) >= 2 and rng.random() < 0.2:
        present["Support Devices"] = True  # sicker patients carry lines and tubes
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
    incidental = tuple(name for name, p in INCIDENTAL.items() if rng.random() < p)
    reading: dict[str, int] = {}
    for name in PREVALENCE:
        shown = present[name]
        if rng.random() < label_noise:
            shown = not shown  # the reader misses it, or reads a finding the images do not show
        if shown:
            reading[name] = -1 if rng.random() < uncertain_rate else 1
        else:
            reading[name] = 0
    return Study(findings=findings, reading=reading, incidental=incidental)
