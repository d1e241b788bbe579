"""Radiology-style reports for synthetic studies, and the CheXpert codes their wording supports.

Reports read like IU X-Ray's: findings sentences organ by organ (heart, mediastinum, lungs,
pleura, bones, devices), then an impression. Phrasing varies; absent findings are often
negated explicitly ("no pneumothorax or pleural effusion") and sometimes not mentioned;
hedged findings use uncertainty cues ("possible", "cannot be excluded"). The labels written
with each study follow the REPORT (the reader), not the image, so a text labeler agrees with
them; the image shows the truth, and ``label_noise`` makes the two disagree.
"""

from __future__ import annotations

import math

import numpy as np

from mtlbench.data.schema import CHEXPERT_LABELS
from mtlbench.data.synthetic.findings import Finding, Study

POSITIVE = {
    "Cardiomegaly": [
        "The heart is {size_adj} enlarged",
        "{Severity} cardiomegaly",
        "The cardiac silhouette is {size_adj} enlarged",
        "Cardiomegaly is present",
    ],
    "Enlarged Cardiomediastinum": [
        "The mediastinum is widened",
        "The cardiomediastinal silhouette is enlarged",
        "Widening of the superior mediastinum",
    ],
    "Lung Opacity": [
        "There is a patchy opacity in the {side} {zone}",
        "{Side} {zone} airspace opacity",
        "Hazy opacity in the {side} lung {zone}",
    ],
    "Lung Lesion": [
        "There is a {nodule_size} nodule in the {side} {zone}",
        "A {nodule_size} {side} lung nodule is seen",
        "{Side} {zone} mass",
    ],
    "Edema": [
        "{Severity} pulmonary edema",
        "There is {severity} interstitial edema",
        "Bilateral perihilar haziness consistent with pulmonary edema",
    ],
    "Consolidation": [
        "There is consolidation in the {side} {zone}",
        "Focal consolidation in the {side} lung {zone}",
        "{Side} {zone} consolidation",
    ],
    "Pneumonia": [
        "Findings are consistent with pneumonia",
        "{Side} {zone} pneumonia",
        "Findings concerning for {side} pneumonia",
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
    "Support Devices": [
        "A {side} chest wall pacemaker is in place",
        "{Side} central venous catheter with tip in the svc",
        "Endotracheal tube in satisfactory position",
        "{Side} picc line terminates in the svc",
    ],
}

UNCERTAIN = {
    "Cardiomegaly": ["Possible mild cardiomegaly", "The heart may be mildly enlarged"],
    "Enlarged Cardiomediastinum": ["Possible widening of the mediastinum"],
    "Lung Opacity": ["Possible {side} {zone} opacity", "A faint {side} {zone} opacity cannot be excluded"],
    "Lung Lesion": ["Possible {side} lung nodule", "A {side} nodule cannot be excluded"],
    "Edema": ["Possible mild pulmonary edema", "Cannot exclude mild edema"],
    "Consolidation": ["Possible {side} {zone} consolidation", "{Side} consolidation cannot be excluded"],
    "Pneumonia": ["Cannot exclude {side} pneumonia", "Possible early pneumonia"],
    "Atelectasis": ["Possible {side} basilar atelectasis", "May represent atelectasis at the {side} base"],
    "Pneumothorax": ["Possible small {side} pneumothorax"],
    "Pleural Effusion": ["Possible small {side} pleural effusion", "A small {side} effusion cannot be excluded"],
    "Pleural Other": ["Possible {side} pleural thickening"],
    "Fracture": ["Possible {side} rib fracture"],
    "Support Devices": ["Possible {side} catheter projecting over the chest"],
}

NEGATIVE = {
    "Cardiomegaly": ["The heart is normal in size", "Heart size is normal", "Normal heart size"],
    "Enlarged Cardiomediastinum": ["The mediastinum is unremarkable", "Normal mediastinal contour"],
    "Lung Opacity": ["No focal airspace opacity"],
    "Lung Lesion": ["No suspicious pulmonary nodules or masses", "No pulmonary nodule"],
    "Edema": ["No pulmonary edema", "No evidence of edema"],
    "Consolidation": ["No focal consolidation", "There is no consolidation"],
    "Pneumonia": ["No evidence of pneumonia"],
    "Atelectasis": ["No atelectasis"],
    "Pneumothorax": ["No pneumothorax", "There is no pneumothorax"],
    "Pleural Effusion": ["No pleural effusion", "There is no pleural effusion"],
    "Pleural Other": [],
    "Fracture": ["No acute fracture", "No displaced rib fracture"],
    "Support Devices": [],
}

# negations that cover several observations at once, as real reports write them
JOINT_NEGATIVE = [
    (("Pneumothorax", "Pleural Effusion"), "No pneumothorax or pleural effusion"),
    (("Pleural Effusion", "Pneumothorax"), "No pleural effusion or pneumothorax"),
    (("Consolidation", "Pneumothorax", "Pleural Effusion"), "No focal consolidation pneumothorax or pleural effusion"),
]

CLEAR_LUNGS = ["The lungs are clear", "Lungs are clear bilaterally", "The lungs are well expanded and clear"]
BONES_NORMAL = [
    "The osseous structures are intact",
    "No acute bony abnormality",
    "Visualized osseous structures are normal",
]
NORMAL_IMPRESSION = [
    "No acute cardiopulmonary abnormality",
    "No acute cardiopulmonary disease",
    "No active disease",
    "Normal chest",
]

ORGAN_ORDER = (
    "Cardiomegaly",
    "Enlarged Cardiomediastinum",
    "Lung Opacity",
    "Consolidation",
    "Pneumonia",
    "Edema",
    "Lung Lesion",
    "Atelectasis",
    "Pleural Effusion",
    "Pneumothorax",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)
LUNG_PARENCHYMA = ("Lung Opacity", "Consolidation", "Pneumonia", "Edema", "Lung Lesion", "Atelectasis")


def _words(finding: Finding | None, rng: np.random.Generator) -> dict[str, str]:
    severity = finding.severity if finding else 0.5
    side = finding.side if finding else str(rng.choice(["right", "left"]))
    position = finding.position if finding else 0.7
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


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def write_report(study: Study, rng: np.random.Generator) -> tuple[str, tuple[float, ...]]:
    """The report text and the 14 CheXpert codes its wording supports (NaN = not mentioned)."""
    truth = {f.name: f for f in study.findings}
    codes = {name: math.nan for name in CHEXPERT_LABELS}
    sentences: list[str] = []
    negated: set[str] = set()
    for name in ORGAN_ORDER:
        reading = study.reading[name]
        if reading == 0:
            continue
        table = POSITIVE if reading == 1 else UNCERTAIN
        sentences.append(_pick(rng, table[name]).format(**_words(truth.get(name), rng)))
        codes[name] = float(reading)
    # explicit negations of absent findings, organ by organ, as a radiologist would dictate them
    absent = [name for name in ORGAN_ORDER if study.reading[name] == 0]
    lungs_clear = all(study.reading[n] == 0 for n in LUNG_PARENCHYMA)
    preamble: list[str] = []
    if "Cardiomegaly" in absent and rng.random() < 0.9:
        preamble.append(_pick(rng, NEGATIVE["Cardiomegaly"]))
        negated.add("Cardiomegaly")
    if "Enlarged Cardiomediastinum" in absent and rng.random() < 0.6:
        preamble.append(_pick(rng, NEGATIVE["Enlarged Cardiomediastinum"]))
        negated.add("Enlarged Cardiomediastinum")
    if lungs_clear and rng.random() < 0.8:
        preamble.append(_pick(rng, CLEAR_LUNGS))
    joint = [(names, text) for names, text in JOINT_NEGATIVE if all(n in absent for n in names)]
    if joint and rng.random() < 0.7:
        names, text = joint[int(rng.integers(len(joint)))]
        preamble.append(text)
        negated.update(names)
    for name in ("Consolidation", "Pleural Effusion", "Pneumothorax", "Edema", "Lung Lesion"):
        if name in absent and name not in negated and NEGATIVE[name] and rng.random() < 0.35:
            preamble.append(_pick(rng, NEGATIVE[name]))
            negated.add(name)
    if "Fracture" in absent and rng.random() < 0.5:
        text = _pick(rng, BONES_NORMAL + NEGATIVE["Fracture"])
        preamble.append(text)
        if text in NEGATIVE["Fracture"]:
            negated.add("Fracture")
    for name in negated:
        codes[name] = 0.0
    findings_text = preamble[:2] + sentences + preamble[2:]
    abnormal = [n for n in CHEXPERT_LABELS[:-1] if codes[n] in (1.0, -1.0) and n != "Support Devices"]
    if not abnormal:
        impression = _pick(rng, NORMAL_IMPRESSION)
        codes["No Finding"] = 1.0
    else:
        impression = sentences[0] if rng.random() < 0.5 else _pick(rng, ["Findings as above", "As above"])
    report = ". ".join([*findings_text, impression]) + "."
    return report, tuple(codes[name] for name in CHEXPERT_LABELS)
