"""Phrase lists of the ``rules`` labeler, after the CheXpert labeler's (stanfordmlgroup/chexpert-labeler).

Every pattern is a regular expression matched on lower-cased text that may be raw or cleaned the
R2Gen way (no commas, "and/or" written "andor"). Where CheXpert's lists are followed, the
pattern says so by its form; where we deviate, the comment says why. Three kinds of mention:

* ``MENTIONS``: the phrase names the observation itself ("effusion", "cardiomegaly"); the
  context decides positive, negative or uncertain.
* ``ORGANS``: the phrase names an organ whose STATE decides (heart, mediastinum): "heart size is
  normal" is a negative Cardiomegaly, "the heart is enlarged" a positive one, and "the heart and
  lungs have ..." no mention at all (CheXpert would call a bare "the heart" positive).
* ``OTHER_FINDINGS``: CheXpert's "No Finding" phrase list. These are findings outside the 14
  (granuloma, degenerative changes, emphysema, ...); a positive or uncertain one blocks
  "No Finding", exactly as CheXpert's aggregation does.
"""

from __future__ import annotations

OTHER = "Other Finding"
"""The pseudo-observation of ``OTHER_FINDINGS``: never reported, it only blocks "No Finding"."""

_CARDIAC_ORGAN = r"\bheart\b(?! failure)|\bcardiac (?:silhouette|size|shadow|contours?)"
_MEDIASTINAL_ORGAN = (
    r"\bcardiomediastin\w*(?: (?:silhouette|contours?|structures))?"
    r"|\bmediastin(?:um|al)(?: (?:silhouette|contours?|configuration|width|structures))?"
    r"|\bpericardial silhouette"
)
_BOTH = r"\bcardiac and mediastinal (?:contours?|silhouettes?)"

ORGANS: dict[str, tuple[str, ...]] = {
    "Cardiomegaly": (_CARDIAC_ORGAN, _BOTH),
    "Enlarged Cardiomediastinum": (_MEDIASTINAL_ORGAN, _BOTH),
}

ORGAN_ENLARGED: dict[str, str] = {
    "Cardiomegaly": r"\benlarg\w*|\blarge\b|\bincreased in size",
    "Enlarged Cardiomediastinum": r"\benlarg\w*|\bwiden\w*|\bprominen\w*|\blarge\b|\bincreased in size",
}
"""A size statement that makes an organ mention a finding (then classified by its context)."""

ORGAN_NORMAL = r"\bnormal\b|\bunremarkable\b|\btop normal|\bnormal limits|\bupper limits? of normal"
"""A size statement that makes an organ mention a negative."""

ORGAN_BORDERLINE = r"\bborderline\b"
"""Neither normal nor enlarged: uncertain (CheXpert: "borderline heart size")."""

ORGAN_STABLE = r"\bstable\b|\bunchanged\b|\bno (?:\w+ )?change\b|\bsimilar (?:in appearance )?to (?:the )?prior"
"""CheXpert's post-negation uncertainty rule for the heart and mediastinum: "stable cardiomediastinal
silhouette", "heart size is unchanged", "no change in the heart", "similar to prior" are uncertain
(they say nothing of the size), unless a normal statement is also made about the organ."""

PREDICATE = r"\b(?:is|are|was|were|be|been|seen|noted|identified|demonstrated|visualized|present|evident|appreciated)\b"
"""A verb that closes a negated statement: after it, a comma starts a new statement the negation
does not reach ("densities not seen on the prior exam, healed rib fracture noted"); without it
the comma is a list ("no acute, displaced rib fractures"; "no effusion, pneumothorax or ...")."""

ORGAN_AFTER_WORDS, ORGAN_BEFORE_WORDS = 8, 3
"""How far a size statement may sit after ("heart size and pulmonary vascularity are within normal
limits") or before ("normal size of the cardiac silhouette") the organ it is about."""

MENTIONS: dict[str, tuple[str, ...]] = {
    "Enlarged Cardiomediastinum": (r"\bmediastinal widening", r"\bwidened mediastinum"),
    "Cardiomegaly": (r"\bcardiomegaly", r"\bcardiac enlargement", r"\benlarged heart"),
    "Lung Opacity": (
        r"opaci\w*",
        r"\binfiltrat\w*",
        r"\bair[ -]?space (?:disease|process)",
        r"\bdecreased translucency",
        r"\bincreased densit(?:y|ies)",
        r"\binterstitial (?:markings?|pattern|lung)",
        r"\breticula\w*",
        r"\bscar\w*",
        r"\bperibronchial thickening",
        r"\bwall thickening",
        r"\bhaz(?:e|y|iness)\b",  # ours: "hazy opacity" is opacity in any report
    ),
    "Lung Lesion": (
        r"\bmass(?:es)?\b",
        r"\bnodules?\b",
        r"\bnodular (?:densit\w*|opaci\w*)",
        r"\blump\b",
        r"\bcavitary lesions?",
        r"\bcarcinoma",
        r"\bneoplasm",
        r"\btumou?rs?\b",
    ),
    "Edema": (r"\bedema", r"\bheart failure", r"\bchf\b"),
    "Consolidation": (r"\bconsolidat\w*",),
    "Pneumonia": (r"\bpneumonia", r"\binfectio\w*"),
    "Atelectasis": (r"\batelecta\w*", r"\bcollapse\w*"),
    "Pneumothorax": (r"\bpneumothora\w*",),
    "Pleural Effusion": (r"\beffusions?\b", r"\bpleural fluid"),
    "Pleural Other": (
        r"\bpleural thickening",
        r"\bfibrosis",
        r"\bfibrothorax",
        r"\bpleural scar\w*",
        r"\bpleural[ -]parenchymal scar\w*",
        r"\bpleuro-?parenchymal scar\w*",
        r"\bpleuro-?pericardial scar\w*",
    ),
    "Fracture": (r"\bfractur\w*",),
    "Support Devices": (
        r"\bpacer\b",
        r"pacemaker",  # also in "icd/pacemaker", which R2Gen's cleaning writes "icdpacemaker"
        r"\bpicc\b",
        r"\bcatheters?\b",
        r"\b(?:central|venous|picc|midline|jugular|subclavian|arterial|dialysis|port|ij|swan-ganz) "
        r"(?:venous )?lines?\b",
        r"\b(?:endotracheal|et|nasogastric|ng|og|orogastric|chest|enteric|feeding|tracheostomy|gastrostomy|"
        r"thoracostomy|dobhoff) tubes?\b",
        r"\b(?:prosthetic|mechanical|replacement) (?:\w+ )?valves?\b",
        r"\bvalve (?:replacement|prosthes[ie]s)",
        r"\bhardware",
        r"\barthroplast\w*",
        r"\bicd\b",
        r"\bdefibrillator",
        r"\b(?:cardiac |electronic |support )?devices?\b",
        r"\bdrains?\b",
        r"\bplates?\b(?![- ]?like)",  # not "plate-like atelectasis"
        r"\bscrews?\b",
        r"\bcannula",
        r"\bcoils?\b",
        r"\bmediport",
        r"\bport-?a-?cath",
        r"\bstimulator",
        # ours: IU anonymises many device names ("right chest XXXX with tip at the cavoatrial junction")
        r"\b(?:with (?:its |the )?|catheter |tube |line )tip\b",
        r"\btip (?:is |projects |projecting |overlies |overlying |terminat\w* |in the |at the )",
    ),
}

UNMENTIONS: dict[str, tuple[str, ...]] = {
    "Pleural Effusion": (r"\bpericardial effusions?",),
    # CheXpert vetoes "calcified nodul"; "calcified pulmonary nodules" are the same benign granulomas
    "Lung Lesion": (r"\bcalcified (?:\w+ )?nodul\w*", r"\bmassive"),
    "Lung Opacity": (
        r"\bpleural scar\w*",
        r"\bpleural[ -]parenchymal scar\w*",
        r"\bpleuro-?parenchymal scar\w*",
        r"\bpleuro-?pericardial scar\w*",
    ),
    # CheXpert: positional phrases are not statements about the organ ("density over the heart")
    "Cardiomegaly": (r"\b(?:over|overlying|overly|in|behind|projecting over) the (?:superior |left |right )?heart",),
    "Enlarged Cardiomediastinum": (
        r"\b(?:over|overlying|overly|in|within|into|behind|projecting over) the (?:\w+ )?mediastinum",
    ),
}

OTHER_FINDINGS: tuple[str, ...] = (
    # CheXpert's no_finding.txt (prefixes as CheXpert matches them), minus its device entries
    # ("defib", "tracheostomy": Support Devices, which never blocks No Finding)
    r"\bemphysema",
    r"\bblunt\w*",
    r"\bdensit(?:y|ies)",
    r"\belevat\w*",
    r"\beventration",
    r"scolio\w*",  # also "dextroscoliosis", as CheXpert matches substrings
    r"\bdegenera\w*",
    r"\bcalcifi\w*",
    r"\bhyperinflat\w*",
    r"\bbronchospasm",
    r"\basthma",
    r"\bhernia\w*",
    r"\bcopd\b",
    r"\binterstitial markings?",
    r"\bplaques?\b",
    r"\bosteophyt\w*",  # CheXpert: "osteophytosis"; "osteophytes" is the same finding
    r"\baortic disease",
    r"\bbronchiolitis",
    r"\bairways? disease",
    r"\bthickening",
    r"\bcephalization",
    r"\baspiration",
    r"\bbullae?\b",
    r"\bcontusion",
    r"\batherosclero\w*",
    r"\bosteopenia",
    r"\bmetasta\w*",
    r"\bgranulom\w*",
    r"\bpneumomediastinum",
    r"\bpneumoperitoneum",
    r"\bosteodystrophy",
    r"\bcuffing",
    r"\birregular lucency",
    r"\binflam\w*",
    r"\bfissure",
    r"\bhypertension",
    r"\bprominen\w*",
    r"kyphos\w*",
    r"\bhyperexpan\w*",  # CheXpert: "hyperexpansion"; IU writes "hyperexpanded lungs" as often
    r"\bbullet",
    r"\bthoracentesis",
    r"\bbronchitis",
    r"\bvolume loss",
    r"\bdeformit\w*",
    r"\bhemorrhage",
    r"\bhematoma",
    r"\bradiopaque",
    r"\baerophagia",
    r"\barthropathy",
)

ALWAYS_UNCERTAIN: dict[str, tuple[str, ...]] = {
    # CheXpert's post-negation uncertainty rules make these uncertain whenever they are not negated
    "Edema": (r"\b(?:vascular|pulmonary) congestion", r"\bindistinctness", r"\bvascular prominence"),
}

# --- cues that classify a mention, in CheXpert's order: pre-negation uncertainty, negation,
# --- post-negation uncertainty; anything else is positive.

PRE_NEGATION_UNCERTAIN_BEFORE = (
    r"\b(?:cannot|can not|cant|could not|difficult to|unable to) (?:be )?(?:exclude|excluded|rule out|ruled out)\b"
    r"|\bno new\b|\bnot (?:entirely |completely |definitely )?(?:excluded|ruled out)\b"
)
PRE_NEGATION_UNCERTAIN_AFTER = (
    r"^\W*(?:(?:is|are|was|were|could|can|may|might) )?(?:not |cannot |can not |cant )(?:be )?"
    r"(?:entirely |completely |definitely )?(?:excluded|ruled out)"
    r"|^\W*(?:(?:is|are|was|were) )?not (?:clearly|well) (?:seen|visualized|evaluated|assessed)"
    r"|^\W*(?:(?:is|are|was|were) )?(?:poorly|incompletely) (?:seen|visualized|evaluated|assessed)"
    r"|^\W*(?:(?:is|are|was|were) )?obscured"
    # "fractures may not be demonstrated": the study cannot show them, which is no negation
    r"|^\W*(?:may|might|could|would|can) not (?:be )?(?:seen|demonstrated|visualized|detected|apparent|evident)"
)
NEGATION_BEFORE = (
    r"\bno\b|\bnot\b|\bwithout\b|\bnegative for\b|\bfree of\b|\bclear of\b|\babsence of\b|\babsent\b"
    r"|\bresolution of\b|\bresolved\b|\bremoval of\b|\bremoved\b|\brather than\b|\bnever\b|\bdenies\b"
    r"|\bexclude[sd]?\b|\bruled out\b|\bfree from\b"
)
NOT_A_NEGATION = r"\bno (?:\w+ ){0,2}change\w*\b|\bnot only\b|\bno longer\b"
"""Removed from the text before negation cues are looked for: "no interval change in the effusion"."""
NEGATION_AFTER = (
    r"^\W*(?:(?:is|are|was|were|has|have) )?(?:been )?(?:not (?:seen|present|identified|evident|visualized|"
    r"appreciated|demonstrated|noted|visible|detected)|absent|resolved|removed|cleared|no longer \w+)"
)
UNCERTAIN_BEFORE = (
    r"\b(?:possible|possibly|probable|probably|question\w*|suspect\w*|suspicious|suspicion|"
    r"concern|concerning|worrisome|may|might|could|would|presumabl\w*|maybe|perhaps|borderline|equivocal|"
    r"indeterminate|uncertain|differential|less likely|unlikely|suggest\w*|versus|vs|consider\w*|"
    r"correlate\w*|cannot be assessed|not be assessed)\b"
)
UNCERTAIN_AFTER = r"^\W*(?:(?:is|are) )?(?:possible|suspected|questioned|not excluded|equivocal)\b"
ALTERNATIVE = r"\b(?:or|andor|versus|vs)\b"
"""CheXpert: "XXX or YYY" and "XXX versus YYY" are uncertain (when not negated). "XXX/YYY" is not:
IU writes synonyms that way ("pacemaker/ICD") as often as alternatives."""
ALTERNATIVE_BEFORE, ALTERNATIVE_AFTER = 3, 1
"""How many words before / after a mention an alternative ("or") may sit to coordinate with it:
"atelectasis or scarring", "effusion or pleural thickening"; not "opacity may represent A or B"."""

CLAUSE_BREAK = (
    r"[.;?!]|\b(?:but|however|although|though|whereas|which|except|with the exception of)\b"
    r"|\bthere (?:is|are)\b|\band (?=(?:a|an|the|there)\b)"
)
"""Where a cue stops reaching: sentence ends and conjunctions that start a new statement."""
