"""Radiology-style reports for synthetic studies, and the CheXpert codes their wording supports.

Reports read like IU X-Ray's, organ by organ: heart and mediastinum, lungs, pleura, bones,
devices, then an impression. Phrasing varies; absent findings are often negated explicitly
("no pneumothorax or pleural effusion") and sometimes not mentioned; hedged findings use
uncertainty cues ("possible", "cannot be excluded"). Every sentence declares the codes its
wording carries, and a study's codes aggregate them as CheXpert does (positive > uncertain >
negative; "No Finding" only when nothing but devices is positive or uncertain and no incidental
finding is reported), so the ``rules`` labeler reads the report as the stored labels say. The
labels follow the REPORT (the reader), not the images; ``label_noise`` makes the two disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mtlbench.data.schema import CHEXPERT_LABELS
from mtlbench.data.synthetic.findings import Finding, Study

Codes = dict[str, float]
Template = tuple[str, tuple[str, ...]]
"""A sentence and the observations it negates (negative templates only)."""

POSITIVE: dict[str, list[str]] = {
    # (hedges use words frequent enough to stay in the vocabulary: a rare "may" would become <unk>)
    # the heart's templates share a skeleton with its negative and uncertain ones, position by position
    # ("The heart is normal in size" / "The heart is mildly enlarged"), as one radiologist's reports do
    "Cardiomegaly": [
        "The heart is {size_adj} enlarged",
        "Heart size is {size_adj} enlarged",
        "{Severity} cardiomegaly",
        "The cardiac silhouette is {size_adj} enlarged",
    ],
    "Enlarged Cardiomediastinum": [
        "The mediastinum is widened",
        "The cardiomediastinal silhouette is enlarged",
        "Widened superior mediastinum",
    ],
    "Lung Opacity": [
        "There is a patchy opacity in the {side} {zone}",
        "{Side} {zone} airspace opacity",
        "Hazy opacity in the {side} {zone}",
    ],
    "Lung Lesion": [
        "There is a {nodule_size} nodule in the {side} {zone}",
        "A {nodule_size} {side} lung nodule is seen",
        "{Side} {zone} mass",
    ],
    "Edema": [
        "{Severity} pulmonary edema",
        "There is {severity} interstitial edema",
        "Bilateral perihilar edema",
    ],
    "Consolidation": [
        "There is consolidation in the {side} {zone}",
        "Focal consolidation in the {side} {zone}",
        "{Side} {zone} consolidation",
    ],
    "Pneumonia": [
        "Findings are consistent with {side} pneumonia",
        "{Side} {zone} pneumonia",
        "There is {side} {zone} pneumonia",
    ],
    "Atelectasis": [
        "{Side} basilar atelectasis",
        "Subsegmental atelectasis in the {side} base",
        "There is {severity} atelectasis at the {side} lung base",
    ],
    "Pneumothorax": [
        "There is a {amount} {side} pneumothorax",
        "{Amount} {side} apical pneumothorax",
    ],
    "Pleural Effusion": [
        "There is a {amount} {side} pleural effusion",
        "{Amount} {side} pleural effusion",
        "Blunting of the {side} costophrenic angle consistent with effusion",
    ],
    "Pleural Other": [
        "{Side} pleural thickening",
        "There is {severity} pleural thickening on the {side}",
    ],
    "Fracture": [
        "There is a fracture of the {side} {rib} rib",
        "Old healed {side} rib fractures",
        "Displaced {side} {rib} rib fracture",
    ],
}

DEVICES: tuple[list[str], ...] = (
    # the kinds of device the renderer draws, by severity: a central line, a pacemaker, a tube
    ["{Side} central venous catheter with tip in the svc", "{Side} jugular central line terminates in the svc"],
    ["A {side} chest wall pacemaker is in place", "{Side} chest pacemaker with leads in the right ventricle"],
    ["Endotracheal tube in satisfactory position", "Endotracheal tube tip above the carina"],
)

UNCERTAIN: dict[str, list[str]] = {
    "Cardiomegaly": [
        "The heart is borderline enlarged",
        "Heart size is borderline",
        "Possible mild cardiomegaly",
        "The cardiac silhouette is borderline enlarged",
    ],
    "Enlarged Cardiomediastinum": ["The mediastinum is borderline widened"],
    "Lung Opacity": ["Possible {side} {zone} opacity", "A faint {side} {zone} opacity cannot be excluded"],
    "Lung Lesion": ["Possible {side} lung nodule", "A {side} nodule cannot be excluded"],
    "Edema": ["Possible mild pulmonary edema", "Cannot exclude mild edema"],
    "Consolidation": ["Possible {side} {zone} consolidation", "{Side} consolidation cannot be excluded"],
    "Pneumonia": ["Cannot exclude {side} pneumonia", "Possible early pneumonia"],
    "Atelectasis": ["Possible {side} basilar atelectasis", "Possible atelectasis at the {side} base"],
    "Pneumothorax": ["Possible small {side} pneumothorax"],
    "Pleural Effusion": ["Possible small {side} pleural effusion", "A small {side} effusion cannot be excluded"],
    "Pleural Other": ["Possible {side} pleural thickening"],
    "Fracture": ["Possible {side} rib fracture"],
    "Support Devices": ["Possible {side} catheter projecting over the chest"],
}

NEGATIVE: dict[str, list[Template]] = {
    "heart": [
        ("The heart is normal in size", ("Cardiomegaly",)),
        ("Heart size is normal", ("Cardiomegaly",)),
        ("Normal heart size", ("Cardiomegaly",)),
        ("The cardiac silhouette is normal in size", ("Cardiomegaly",)),
    ],
    "mediastinum": [
        ("The mediastinum is unremarkable", ("Enlarged Cardiomediastinum",)),
        ("Normal mediastinal contour", ("Enlarged Cardiomediastinum",)),
    ],
    "heart and mediastinum": [
        ("The heart and mediastinum are normal", ("Cardiomegaly", "Enlarged Cardiomediastinum")),
        (
            "Heart size and mediastinal contours are within normal limits",
            ("Cardiomegaly", "Enlarged Cardiomediastinum"),
        ),
        ("The cardiomediastinal silhouette is within normal limits", ("Enlarged Cardiomediastinum",)),
    ],
    "Lung Opacity": [("No focal airspace opacity", ("Lung Opacity",))],
    "Consolidation": [
        ("No focal consolidation", ("Consolidation",)),
        ("There is no consolidation", ("Consolidation",)),
    ],
    "Edema": [("No pulmonary edema", ("Edema",)), ("No evidence of edema", ("Edema",))],
    "Lung Lesion": [
        ("No suspicious pulmonary nodules or masses", ("Lung Lesion",)),
        ("No pulmonary nodule", ("Lung Lesion",)),
    ],
    "Pneumonia": [("No evidence of pneumonia", ("Pneumonia",))],
    "Pneumothorax": [("No pneumothorax", ("Pneumothorax",)), ("There is no pneumothorax", ("Pneumothorax",))],
    "Pleural Effusion": [
        ("No pleural effusion", ("Pleural Effusion",)),
        ("There is no pleural effusion", ("Pleural Effusion",)),
    ],
    "Fracture": [("No acute fracture", ("Fracture",)), ("No displaced rib fracture", ("Fracture",))],
    "pleura": [
        ("No pneumothorax or pleural effusion", ("Pneumothorax", "Pleural Effusion")),
        ("No pleural effusion or pneumothorax", ("Pleural Effusion", "Pneumothorax")),
    ],
    "lungs and pleura": [
        (
            "No focal consolidation, pneumothorax or pleural effusion",
            ("Consolidation", "Pneumothorax", "Pleural Effusion"),
        ),
    ],
}

CLEAR_LUNGS = ["The lungs are clear", "Lungs are clear bilaterally", "The lungs are well expanded and clear"]
BONES_NORMAL = [
    "The osseous structures are intact",
    "No acute bony abnormality",
    "Visualized osseous structures are normal",
]
INCIDENTAL_TEXT = {
    "granuloma": [
        "Calcified granuloma in the {side} {zone}",
        "Stable calcified granulomas",
        "Scattered calcified granulomas consistent with prior granulomatous disease",
    ],
    "degenerative": ["Degenerative changes of the thoracic spine", "Mild degenerative changes of the spine"],
}
NORMAL_IMPRESSION = [
    "No acute cardiopulmonary abnormality",
    "No acute cardiopulmonary disease",
    "No active disease",
    "Normal chest",
]
NO_ACUTE = NORMAL_IMPRESSION[:3]
AS_ABOVE = ["Findings as above", "As above"]

LUNGS = ("Lung Opacity", "Consolidation", "Pneumonia", "Edema", "Lung Lesion", "Atelectasis")
PLEURA = ("Pleural Effusion", "Pneumothorax", "Pleural Other")


def _words(finding: Finding | None, rng: np.random.Generator) -> dict[str, str]:
    severity = finding.severity if finding else 0.5
    side = finding.side if finding else str(rng.choice(["right", "left"]))
    position = finding.position if finding else float(rng.uniform(0.15, 0.85))
    words = {
        "side": side,
        "zone": "upper lobe" if position < 0.35 else "midlung" if position < 0.6 else "lower lobe",
        "severity": "mild" if severity < 0.6 else "moderate" if severity < 0.85 else "severe",
        "size_adj": "mildly" if severity < 0.6 else "moderately" if severity < 0.85 else "markedly",
        "amount": "small" if severity < 0.6 else "moderate" if severity < 0.85 else "large",
        "nodule_size": "small" if severity < 0.6 else "1 cm" if severity < 0.85 else "large",
        "rib": ["fifth", "sixth", "seventh", "eighth"][int(position * 4) % 4],
    }
    return words | {k.capitalize(): v.capitalize() for k, v in words.items()}


def _pick(rng: np.random.Generator, options: list) -> object:
    return options[int(rng.integers(len(options)))]


MAX_WORDS = 56
"""Longest report in R2Gen tokens (words and periods): with BOS and EOS it fits IU's max_seq_length
of 60, so the references are not truncated. Optional sentences (negations, "lungs are clear")
are dropped from the end until a report fits."""


@dataclass
class _Sentence:
    text: str
    codes: Codes = field(default_factory=dict)
    drop: int = 0
    """When a report is too long, sentences go by this rank (0: never): 1 negations and "lungs are
    clear", 2 an impression that repeats a finding, 3 incidental findings (there are others then)."""
    incidental: bool = False


def aggregate(codes: list[float]) -> float:
    """CheXpert's aggregation of one observation's mentions: positive > uncertain > negative."""
    return 1.0 if 1.0 in codes else -1.0 if -1.0 in codes else 0.0


class _Writer:
    """Collects sentences and the codes they carry."""

    def __init__(self, study: Study, rng: np.random.Generator) -> None:
        self.study, self.rng = study, rng
        self.truth = {f.name: f for f in study.findings}
        self.sentences: list[_Sentence] = []

    @property
    def said(self) -> set[str]:
        return {name for sentence in self.sentences for name in sentence.codes}

    def finding(self, name: str, style: int | None = None) -> bool:
        """The reader's sentence about ``name`` if it reads it present; True if written."""
        reading = self.study.reading[name]
        if reading == 0:
            return False
        words = _words(self.truth.get(name), self.rng)
        if reading == 1 and name == "Support Devices":
            device = self.truth.get(name)
            kind = 0 if device is None or device.severity < 0.55 else 1 if device.severity < 0.8 else 2
            text = str(_pick(self.rng, DEVICES[kind]))
        else:
            options = (POSITIVE if reading == 1 else UNCERTAIN)[name]
            text = str(_pick(self.rng, options) if style is None else options[style % len(options)])
        self.sentences.append(_Sentence(text.format(**words), {name: float(reading)}))
        return True

    def negate(self, key: str, probability: float = 1.0, style: int | None = None) -> None:
        """A negative sentence about ``key`` (with this probability) if what it negates is absent and not yet said."""
        said = self.said
        options = [t for t in NEGATIVE[key] if all(self.study.reading[n] == 0 and n not in said for n in t[1])]
        if options and self.rng.random() < probability:
            chosen = _pick(self.rng, options) if style is None else options[style % len(options)]
            text, names = chosen  # type: ignore[misc]
            self.sentences.append(_Sentence(text, dict.fromkeys(names, 0.0), drop=1))

    def say(self, options: list[str], *, drop: int, incidental: bool = False) -> None:
        text = str(_pick(self.rng, options)).format(**_words(None, self.rng))
        self.sentences.append(_Sentence(text, drop=drop, incidental=incidental))

    def fit(self) -> None:
        """Drop sentences by their ``drop`` rank (the last first) until the report fits ``MAX_WORDS``."""
        while sum(len(s.text.split()) + 1 for s in self.sentences) > MAX_WORDS:
            ranks = [s.drop for s in self.sentences if s.drop]
            if not ranks:
                return
            last = max(i for i, s in enumerate(self.sentences) if s.drop == min(ranks))
            del self.sentences[last]


def write_report(study: Study, rng: np.random.Generator) -> tuple[str, tuple[float, ...]]:
    """The report text and the 14 CheXpert codes its wording supports (NaN = not mentioned)."""
    w = _Writer(study, rng)
    reading = study.reading
    # heart and mediastinum
    if reading["Cardiomegaly"] == 0 and reading["Enlarged Cardiomediastinum"] == 0 and rng.random() < 0.35:
        w.negate("heart and mediastinum")
    else:
        heart_style = int(rng.integers(4))
        if not w.finding("Cardiomegaly", heart_style):
            w.negate("heart", 0.9, heart_style)
        if not w.finding("Enlarged Cardiomediastinum"):
            w.negate("mediastinum", 0.6)
    # lungs
    written = [name for name in LUNGS if w.finding(name)]
    if not written and rng.random() < 0.8:
        w.say(CLEAR_LUNGS, drop=1)
    if "granuloma" in study.incidental:
        w.say(INCIDENTAL_TEXT["granuloma"], drop=3, incidental=True)
    # pleura, with the negations radiologists dictate for absent lung and pleural findings
    for name in PLEURA:
        w.finding(name)
    if rng.random() < 0.5:
        w.negate("lungs and pleura", 0.8)
    if rng.random() < 0.7:
        w.negate("pleura")
    for name in ("Pneumothorax", "Pleural Effusion", "Consolidation", "Edema", "Lung Lesion"):
        w.negate(name, 0.3 if name in PLEURA or name == "Consolidation" else 0.2)
    # bones and devices
    if not w.finding("Fracture"):
        if rng.random() < 0.5:
            w.say(BONES_NORMAL, drop=1)
        else:
            w.negate("Fracture", 0.4)
    if "degenerative" in study.incidental:
        w.say(INCIDENTAL_TEXT["degenerative"], drop=3, incidental=True)
    w.finding("Support Devices")
    # impression: the first finding again (as IU's impressions repeat the main finding), or a normal one
    abnormal = [s for s in w.sentences if any(c != 0.0 and n != "Support Devices" for n, c in s.codes.items())]
    if abnormal:
        repeat = rng.random() < 0.6
        w.sentences.append(
            _Sentence(abnormal[0].text, dict(abnormal[0].codes), drop=2)
            if repeat
            else _Sentence(str(_pick(rng, AS_ABOVE)))
        )
    else:
        w.say(NO_ACUTE if study.incidental else NORMAL_IMPRESSION, drop=0)
    w.fit()
    mentions: dict[str, list[float]] = {}
    for sentence in w.sentences:
        for name, code in sentence.codes.items():
            mentions.setdefault(name, []).append(code)
    codes = {name: aggregate(mentions[name]) if name in mentions else math.nan for name in CHEXPERT_LABELS}
    finding = any(codes[n] in (1.0, -1.0) for n in CHEXPERT_LABELS if n not in ("Support Devices", "No Finding"))
    incidental = any(s.incidental for s in w.sentences)
    codes["No Finding"] = math.nan if finding or incidental else 1.0
    return ". ".join(s.text for s in w.sentences) + ".", tuple(codes[name] for name in CHEXPERT_LABELS)
