"""``rules``: a rule-based approximation of the CheXpert labeler, for report language as it is.

Like CheXpert/NegBio it works in three stages. Mention extraction: each observation has
mention phrases (regular expressions) and unmention phrases that veto a match ("pericardial
effusion" is not a pleural effusion). Classification of each mention: negation and
uncertainty cues before the mention (in its clause: a clause ends at ".", ";", "but",
"however", "although", "which", "except") or after it ("... is not seen", "... cannot be
excluded"), plus whole phrases that state normality ("heart size is normal"). Aggregation per
observation: positive over uncertain over negative ({neg, unc} -> unc, {neg, pos} -> pos,
{unc, pos} -> pos), blank when not mentioned; "No Finding" is positive exactly when no
observation other than Support Devices is positive or uncertain.

Decisions of ours, tuned on the real IU X-Ray reports: "calcified granuloma" and
"granulomatous disease" are NOT Lung Lesion (CheXpert's list has nodules and masses, and
IU reports mention old granulomas as incidental); sternotomy wires and surgical clips are
NOT Support Devices (CheXpert counts lines, tubes, catheters, pacemakers, ports); "lungs are
clear" mentions no observation (it leaves Lung Opacity blank, as CheXpert does); "xxxx"
anonymisation tokens are ordinary words. It is not CheXpert: tables name it a rule-based
approximation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mtlbench.data.schema import CHEXPERT_LABELS

POS, NEG, UNC = 1.0, 0.0, -1.0

MENTIONS: dict[str, tuple[str, ...]] = {
    "Enlarged Cardiomediastinum": (
        r"mediastin\w* (?:is |are )?(?:widen\w*|enlarg\w*)",
        r"widen\w* (?:of the )?(?:superior )?mediastin\w*",
        r"mediastinal widening",
        r"cardiomediastinal (?:silhouette|contours?) (?:is |are )?(?:enlarg\w*|widen\w*|prominent)",
        r"enlarg\w* cardiomediastinal",
        r"mediastin\w* (?:is |are )?(?:normal|unremarkable|within normal limits)",
        r"normal mediastin\w*",
        r"cardiomediastinal (?:silhouette|contours?) (?:is |are )?(?:normal|unremarkable|within normal limits)",
        r"normal cardiomediastinal",
        r"unremarkable (?:cardio)?mediastin\w*",
    ),
    "Cardiomegaly": (
        r"cardiomegaly",
        r"(?:heart|cardiac silhouette|cardiac shadow) (?:size )?(?:is |are |appears |remains )?(?:\w+ )?enlarg\w*",
        r"enlarg\w* (?:heart|cardiac)",
        r"cardiac enlargement",
        r"enlargement of the (?:cardiac silhouette|heart|cardiac shadow)",
        r"heart size (?:is |remains )?(?:normal|upper limits of normal|within normal limits|top normal)",
        r"heart (?:is )?(?:normal|within normal limits) in size",
        r"normal (?:heart|cardiac) (?:size|silhouette)",
        r"cardiac silhouette (?:is )?(?:normal|within normal limits)",
        r"heart and mediastinum (?:are )?(?:normal|within normal limits|unremarkable)",
        r"cardiomediastinal (?:silhouette|contours?) (?:is |are )?(?:normal|unremarkable|within normal limits)",
        r"normal cardiomediastinal",
    ),
    "Lung Opacity": (
        r"opaci\w*",
        r"infiltrat\w*",
        r"air ?space (?:disease|process)",
        r"haz\w+",
        r"densit(?:y|ies)",
    ),
    "Lung Lesion": (r"nodul\w*", r"\bmass(?:es)?\b", r"neoplasm", r"tumou?r", r"carcinoma", r"cavitary lesion"),
    "Edema": (
        r"edema",
        r"(?:vascular|pulmonary) congestion",
        r"heart failure",
        r"\bchf\b",
        r"vascular prominence",
    ),
    "Consolidation": (r"consolidat\w*",),
    "Pneumonia": (r"pneumonia", r"infectio\w*", r"infectious process"),
    "Atelectasis": (r"atelecta\w*", r"\bcollapse\w*"),
    "Pneumothorax": (r"pneumothora\w*",),
    "Pleural Effusion": (
        r"effusion",
        r"pleural fluid",
        r"blunt\w* (?:of )?(?:the )?(?:\w+ )?(?:costophrenic|cp) angle",
        r"(?:costophrenic|cp) angles? (?:is |are )?(?:sharp|blunt\w*)",
    ),
    "Pleural Other": (r"pleural thicken\w*", r"fibrothorax", r"pleural (?:scar\w*|plaque\w*)"),
    "Fracture": (r"fractur\w*",),
    "Support Devices": (
        r"pacemaker",
        r"\bpacer\b",
        r"catheter",
        r"\bpicc\b",
        r"(?:central|venous|picc|midline|jugular|subclavian) (?:venous )?line",
        r"(?:endotracheal|et|nasogastric|ng|chest|enteric|feeding|tracheostomy) tube",
        r"\bport\b",
        r"defibrillator",
        r"\bicd\b",
        r"\bstent\b",
    ),
}

UNMENTIONS: dict[str, tuple[str, ...]] = {
    "Pleural Effusion": (r"pericardial effusion",),
    "Lung Lesion": (r"granulom\w*",),
    "Lung Opacity": (r"granulom\w*", r"bone densit\w*", r"osseous densit\w*"),
    "Pneumonia": (r"urinary tract infection",),
}

# a whole match of these states normality: negative without a negation word
NORMAL_STATEMENT = re.compile(
    r"normal|unremarkable|within normal limits|(?:costophrenic|cp) angles? (?:is |are )?sharp"
)
PRE_NEGATION = re.compile(
    r"\b(?:no|not|without|negative for|free of|clear of|absence of|absent|resolution of|resolved|"
    r"rather than|never|deny|denies|exclude[sd]?|ruled out)\b"
)
POST_NEGATION = re.compile(
    r"^\W*(?:is |are |has |have )?(?:not (?:seen|present|identified|evident|visualized|appreciated|demonstrated)|"
    r"absent|(?:been )?resolved|free)"
)
PRE_UNCERTAIN = re.compile(
    r"\b(?:possible|possibly|probable|probably|may|might|could|questionable|question of|suspicious for|"
    r"suspected|concerning for|worrisome for|suggest\w*|versus|vs|borderline|equivocal|differential|"
    r"likely|cannot exclude|can not exclude|cannot rule out|consider|compatible with|represent\w*|"
    r"suspicion|uncertain|indeterminate)\b"
)
POST_UNCERTAIN = re.compile(
    r"^\W*(?:is |are )?(?:not (?:excluded|ruled out)|cannot be (?:excluded|ruled out)|"
    r"can not be (?:excluded|ruled out)|(?:is |are )?(?:possible|suspected|questioned|not entirely excluded))"
)
CLAUSE_BREAK = re.compile(r"[.;]|\b(?:but|however|although|though|which|except|otherwise|with the exception of)\b")


@dataclass(frozen=True)
class _Patterns:
    mentions: dict[str, re.Pattern[str]]
    unmentions: dict[str, re.Pattern[str]]


def _compile() -> _Patterns:
    mentions = {k: re.compile("|".join(f"(?:{p})" for p in v)) for k, v in MENTIONS.items()}
    unmentions = {k: re.compile("|".join(f"(?:{p})" for p in v)) for k, v in UNMENTIONS.items()}
    return _Patterns(mentions, unmentions)


PATTERNS = _compile()


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    left = 0
    for match in CLAUSE_BREAK.finditer(text, 0, start):
        left = match.end()
    right_match = CLAUSE_BREAK.search(text, end)
    return left, right_match.start() if right_match else len(text)


def classify_mention(text: str, start: int, end: int) -> float:
    """POS, NEG or UNC for the mention text[start:end] in its clause."""
    left, right = _clause_bounds(text, start, end)
    before, mention, after = text[left:start], text[start:end], text[end:right]
    if POST_UNCERTAIN.search(after) or PRE_UNCERTAIN.search(before):
        return UNC
    if PRE_NEGATION.search(before) or POST_NEGATION.search(after):
        return NEG
    if NORMAL_STATEMENT.search(mention):
        return NEG
    return POS


def label_report(report: str) -> tuple[float, ...]:
    """14 CheXpert codes (1 pos, 0 neg, -1 uncertain, NaN blank) in CheXbert order."""
    text = " " + re.sub(r"\s+", " ", report.lower()) + " "
    codes: dict[str, float] = {}
    for observation, pattern in PATTERNS.mentions.items():
        veto = PATTERNS.unmentions.get(observation)
        vetoed = [(m.start(), m.end()) for m in veto.finditer(text)] if veto else []
        found = []
        for match in pattern.finditer(text):
            if any(s <= match.start() < e or s < match.end() <= e for s, e in vetoed):
                continue
            found.append(classify_mention(text, match.start(), match.end()))
        if found:
            codes[observation] = POS if POS in found else UNC if UNC in found else NEG
    pathology = [c for name, c in codes.items() if name != "Support Devices"]
    no_finding = POS if not any(c in (POS, UNC) for c in pathology) else math.nan
    return tuple(no_finding if name == "No Finding" else codes.get(name, math.nan) for name in CHEXPERT_LABELS)


class RuleLabeler:
    """The offline default labeler (no model weights needed)."""

    description = "rule-based approximation of the CheXpert labeler (mtlbench rules)"

    @classmethod
    def from_config(cls, config: object) -> RuleLabeler:
        return cls()

    def label(self, reports: Sequence[str]) -> list[tuple[float, ...]]:
        return [label_report(r) for r in reports]
