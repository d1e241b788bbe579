"""Report cleaning exactly as R2Gen's tokenizers do it, quirks included.

Published IU X-Ray and MIMIC-CXR figures are computed on text cleaned this way, so the
metrics are only comparable when the cleaning is identical. The quirks reproduced on purpose:

* ``..`` is collapsed only three times (IU) or eight times (MIMIC), so long runs of dots survive;
* list numbering is removed by literal replacements (``"1. "`` anywhere, ``" 2. "`` .. ``" 5. "``),
  so "1. " inside a number such as "11. " loses its tail too, and items 6 and above stay;
* the character class ``[.,?;*!%^&_+():-\\[\\]{}]`` holds the RANGE ``:-\\[`` (0x3A..0x5B), which
  also deletes ``< = > @`` (upper-case letters are gone already: the text is lower-cased first);
* sentences are split on ``". "`` only; empty sentences are kept (R2Gen's ``!= []`` test compares
  a string with a list and is always true), which yields ``" .  . "`` runs;
* "xxxx" (IU's anonymisation) is left as a word.
"""

from __future__ import annotations

import re

_STRIP = re.compile(r"[.,?;*!%^&_+():-\[\]{}]")


def _sentence(text: str) -> str:
    text = text.replace('"', "").replace("/", "").replace("\\", "").replace("'", "").strip().lower()
    return _STRIP.sub("", text)


def _numbering(text: str) -> str:
    text = text.replace("1. ", "")
    for n in (2, 3, 4, 5):
        text = text.replace(f". {n}. ", ". ")
    for n in (2, 3, 4, 5):
        text = text.replace(f" {n}. ", ". ")
    return text


def _join(text: str) -> str:
    sentences = text.strip().lower().split(". ")
    return " . ".join(_sentence(s) for s in sentences) + " ."


def clean_iu_xray(report: str) -> str:
    """R2Gen's ``clean_report_iu_xray``."""
    text = report
    for _ in range(3):
        text = text.replace("..", ".")
    return _join(_numbering(text))


def clean_mimic_cxr(report: str) -> str:
    """R2Gen's ``clean_report_mimic_cxr``: newlines, underscores and double spaces first."""
    text = report.replace("\n", " ")
    for _ in range(7):
        text = text.replace("__", "_")
    for _ in range(6):
        text = text.replace("  ", " ")
    for _ in range(8):
        text = text.replace("..", ".")
    return _join(_numbering(text))


STYLES = {"iu_xray": clean_iu_xray, "mimic_cxr": clean_mimic_cxr}


def clean_report(text: str, style: str) -> str:
    """Clean ``text`` with the named dataset's R2Gen cleaner ("iu_xray" or "mimic_cxr")."""
    try:
        return STYLES[style](text)
    except KeyError:
        raise ValueError(f"unknown cleaning style {style!r}; known: {', '.join(STYLES)}") from None
