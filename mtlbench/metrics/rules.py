"""``rules``: a rule-based approximation of the CheXpert labeler, for report language as it is.

Like CheXpert (Irvin et al. 2019) it works in three stages, on raw or R2Gen-cleaned text alike.

1. Mention extraction (phrases in :mod:`mtlbench.metrics.rule_phrases`, after CheXpert's lists):
   observation phrases, vetoed by overlapping unmention phrases ("pericardial effusion" is not
   a pleural effusion, "calcified nodule" not a lesion); organ phrases (heart, mediastinum) that
   count only with a size statement ("heart size is normal", "the heart is enlarged"); and
   CheXpert's "No Finding" list of other findings (granuloma, degenerative changes, ...).
2. Classification of each mention in its clause, in CheXpert's order: pre-negation uncertainty
   ("cannot exclude", "no new"), negation ("no", "without", "... is not seen"; not "no
   change in"), post-negation uncertainty ("possible", "may", "X or Y", "X versus Y");
   otherwise positive. A clause ends at a sentence end, ";" and words that start a new
   statement ("but", "which", "there is", "and the").
3. Aggregation per observation, CheXpert's rules: {neg, unc} -> unc, {neg, pos} -> pos,
   {unc, pos} -> pos; a positive or uncertain "chf" / "heart failure" adds an uncertain
   Cardiomegaly; "No Finding" is positive exactly when no observation other than Support
   Devices (the other findings included) is positive or uncertain, and blank otherwise.

CheXpert classifies on dependency parses (NegBio); these are regular expressions over
clauses, so scopes are approximate. Deliberate deviations: an organ mention without a size
statement is no mention ("heart size is stable" stays blank; CheXpert says uncertain);
sternotomy wires, surgical clips and skin markers are not Support Devices; "likely" is
positive (as in CheXpert) but "suggest", "unlikely" are uncertain. Tables name it a
rule-based approximation, never CheXpert.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mtlbench.data.schema import CHEXPERT_LABELS
from mtlbench.metrics import rule_phrases as P

POS, NEG, UNC = 1.0, 0.0, -1.0


def _union(patterns: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_CUT = "\x00"


def anchor(pattern: str) -> str | None:
    """Literal text that every match of ``pattern`` contains, or None.

    Groups, character classes, escapes and optional characters are cut out; the longest literal
    run left must appear in any text the pattern matches. Testing it as a substring first is far
    cheaper than running the regular expression on the many reports that cannot match.
    """
    previous, text = None, pattern
    while previous != text:
        previous, text = text, re.sub(r"\((?:[^()\\]|\\.)*\)[?*+]?|\[[^\]]*\][?*+]?", _CUT, text)
    if "|" in text:
        return None
    text = re.sub(r"\\[a-zA-Z][?*+]?|.[?*]|\{[^}]*\}", _CUT, text).replace("+", "")
    runs = re.findall(r"[a-z][a-z -]*[a-z]", text)
    best = max(runs, key=len, default="")
    return best if len(best) >= 3 else None


@dataclass(frozen=True)
class _Compiled:
    mentions: dict[str, tuple[tuple[str | None, re.Pattern[str]], ...]]
    unmentions: dict[str, re.Pattern[str]]
    organs: dict[str, re.Pattern[str]]
    states: dict[str, re.Pattern[str]]
    always_uncertain: dict[str, re.Pattern[str]]


def _compile() -> _Compiled:
    phrases = dict(P.MENTIONS) | {P.OTHER: P.OTHER_FINDINGS}
    return _Compiled(
        mentions={name: tuple((anchor(p), re.compile(p)) for p in patterns) for name, patterns in phrases.items()},
        unmentions={name: _union(phrases) for name, phrases in P.UNMENTIONS.items()},
        organs={name: _union(phrases) for name, phrases in P.ORGANS.items()},
        states={
            name: re.compile(
                f"(?P<enlarged>{p})|(?P<normal>{P.ORGAN_NORMAL})|(?P<borderline>{P.ORGAN_BORDERLINE})"
                f"|(?P<stable>{P.ORGAN_STABLE})"
            )
            for name, p in P.ORGAN_ENLARGED.items()
        },
        always_uncertain={name: _union(phrases) for name, phrases in P.ALWAYS_UNCERTAIN.items()},
    )


_C = _compile()
_PRE_UNC_BEFORE = re.compile(P.PRE_NEGATION_UNCERTAIN_BEFORE)
_PRE_UNC_AFTER = re.compile(P.PRE_NEGATION_UNCERTAIN_AFTER)
_NEG_BEFORE = re.compile(P.NEGATION_BEFORE)
_NOT_NEG = re.compile(P.NOT_A_NEGATION)
_NEG_AFTER = re.compile(P.NEGATION_AFTER)
_UNC_BEFORE = re.compile(P.UNCERTAIN_BEFORE)
_UNC_AFTER = re.compile(P.UNCERTAIN_AFTER)
_ALTERNATIVE = re.compile(P.ALTERNATIVE)
_BREAK = re.compile(P.CLAUSE_BREAK)
_PREDICATE = re.compile(P.PREDICATE)


def normalise(report: str) -> str:
    """Lower case, one space between words, and a space at both ends (so cues see word edges)."""
    return " " + re.sub(r"\s+", " ", report.lower()).strip() + " "


def clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause of ``text``."""
    bounds, left = [], 0
    for match in _BREAK.finditer(text):
        bounds.append((left, match.start()))
        left = match.end()
    bounds.append((left, len(text)))
    return [(s, e) for s, e in bounds if text[s:e].strip()]


def _near_alternative(before: str, after: str) -> bool:
    words_before = " ".join(before.split()[-P.ALTERNATIVE_BEFORE :])
    words_after = " ".join(after.split()[: P.ALTERNATIVE_AFTER])
    return bool(_ALTERNATIVE.search(words_before) or _ALTERNATIVE.search(words_after))


def negation_scope(before: str) -> str:
    """The part of ``before`` a negation cue may reach from: past the last comma when the negated
    statement before that comma was closed by its verb (``PREDICATE``) or was a verbal "not"."""
    cut = before.rfind(",")
    if cut < 0:
        return before
    head = _NOT_NEG.sub(" ", before[:cut])
    cues = list(_NEG_BEFORE.finditer(head))
    if cues and (cues[-1].group(0) == "not" or _PREDICATE.search(head, cues[-1].end())):
        return before[cut + 1 :]
    return before


def classify(before: str, after: str) -> float:
    """POS, NEG or UNC of a mention from its clause's text before and after it."""
    if _PRE_UNC_BEFORE.search(before) or _PRE_UNC_AFTER.search(after):
        return UNC
    if _NEG_BEFORE.search(_NOT_NEG.sub(" ", negation_scope(before))) or _NEG_AFTER.search(after):
        return NEG
    if _UNC_BEFORE.search(before) or _UNC_AFTER.search(after) or _near_alternative(before, after):
        return UNC
    return POS


def _vetoed(name: str, clause: str, start: int, end: int) -> bool:
    veto = _C.unmentions.get(name)
    return bool(veto) and any(m.start() < end and start < m.end() for m in veto.finditer(clause))


def _size_statement(name: str, clause: str, start: int, end: int) -> tuple[re.Match[str], str, str] | None:
    """The size statement about the organ at clause[start:end], and the clause text before and after it.

    The first statement within ``ORGAN_AFTER_WORDS`` words after the organ ("the heart is mildly
    enlarged"), else the nearest within ``ORGAN_BEFORE_WORDS`` words before it ("normal heart
    size"). Words between organ and statement count as context before the statement ("is not").
    """
    state = _C.states[name]
    near = [m for m in state.finditer(clause, end) if len(clause[end : m.start()].split()) <= P.ORGAN_AFTER_WORDS]
    if near:  # a normal statement outranks a stable one: CheXpert tries negation before uncertainty
        match = min(near, key=lambda m: (m.lastgroup == "stable", m.start()))
        return match, clause[:start] + " " + clause[end : match.start()], clause[match.end() :]
    preceding = [
        m for m in state.finditer(clause, 0, start) if len(clause[m.end() : start].split()) <= P.ORGAN_BEFORE_WORDS
    ]
    if preceding:
        return preceding[-1], clause[: preceding[-1].start()], clause[end:]
    return None


def _organ_codes(name: str, clause: str) -> list[float]:
    """Codes of the organ mentions of ``name`` in ``clause`` that carry a size statement."""
    codes = []
    for organ in _C.organs[name].finditer(clause):
        if _vetoed(name, clause, organ.start(), organ.end()):
            continue
        statement = _size_statement(name, clause, organ.start(), organ.end())
        if statement is None:
            continue  # "the heart and lungs have ...": nothing said about the size
        cue, before, after = statement
        code = classify(before, after)
        if cue.lastgroup == "normal":
            codes.append(NEG)
        elif cue.lastgroup in ("borderline", "stable"):
            codes.append(NEG if code == NEG else UNC)
        else:
            codes.append(code)
    return codes


def mention_codes(report: str) -> dict[str, list[float]]:
    """Every classified mention of ``report``, per observation (``rule_phrases.OTHER`` included)."""
    text = normalise(report)
    found: dict[str, list[float]] = {}
    possible = [
        (name, pattern) for name, patterns in _C.mentions.items() for a, pattern in patterns if a is None or a in text
    ]
    for start, end in clauses(text):
        clause = text[start:end]
        for name, pattern in possible:
            for match in pattern.finditer(clause):
                if _vetoed(name, clause, match.start(), match.end()):
                    continue
                code = classify(clause[: match.start()], clause[match.end() :])
                found.setdefault(name, []).append(code)
                if match.group(0) in ("chf", "heart failure") and code != NEG:
                    found.setdefault("Cardiomegaly", []).append(UNC)  # CheXpert's exception
        for name, pattern in _C.always_uncertain.items():
            for match in pattern.finditer(clause):
                code = classify(clause[: match.start()], clause[match.end() :])
                found.setdefault(name, []).append(NEG if code == NEG else UNC)
        for name in _C.organs:
            found.setdefault(name, []).extend(_organ_codes(name, clause))
    return {name: codes for name, codes in found.items() if codes}


def aggregate(codes: list[float]) -> float:
    """CheXpert's aggregation of one observation's mentions: positive > uncertain > negative."""
    return POS if POS in codes else UNC if UNC in codes else NEG


def label_report(report: str) -> tuple[float, ...]:
    """14 CheXpert codes (1 pos, 0 neg, -1 uncertain, NaN blank) in CheXbert order."""
    found = {name: aggregate(codes) for name, codes in mention_codes(report).items()}
    finding = any(code in (POS, UNC) for name, code in found.items() if name != "Support Devices")
    found["No Finding"] = math.nan if finding else POS
    return tuple(found.get(name, math.nan) for name in CHEXPERT_LABELS)


def _version() -> str:
    """A digest of the rules themselves: cached labels are recomputed whenever a rule changes."""
    sources = (Path(__file__).read_bytes(), Path(P.__file__).read_bytes())
    return hashlib.sha256(b"".join(sources)).hexdigest()[:12]


class RuleLabeler:
    """The offline default labeler (no model weights needed)."""

    description = "rule-based approximation of the CheXpert labeler (mtlbench rules)"
    cache_key = f"rules-{_version()}"

    @classmethod
    def from_config(cls, config: object) -> RuleLabeler:
        return cls()

    def label(self, reports: Sequence[str]) -> list[tuple[float, ...]]:
        return [label_report(r) for r in reports]
