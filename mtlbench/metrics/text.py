"""The one normalisation every text gets before any metric sees it, predictions and references alike.

Model output and hand-made files carry what the scorers cannot take: newlines (METEOR's Java
process reads one line per request, so a newline puts its answers out of step), other control
characters, ``|||`` (METEOR's field separator: in a reference it would make a second
reference), and runaway lengths (METEOR's alignment search grows faster than quadratically:
on 2 shared cores a pair of 1,000-word texts takes 6.5 s, 1,500 words 32 s, 2,000 words two
minutes, see benchmarks/reliability.md; the issue's 200,000-word prediction made it stop
answering). So, in this order:

1. control and format characters (Unicode Cc, Cf; lone surrogates, which are not text) are
   removed, except whitespace;
2. every run of whitespace that is not plain spaces (newline, carriage return, tab, no-break and
   other Unicode spaces, line and paragraph separators) becomes one plain space;
3. ``|||`` becomes a space;
4. a text longer than :data:`MAX_WORDS` words (or :data:`MAX_CHARS` characters) is cut there,
   and the cut is counted so that the caller can say so.

Runs of plain spaces are kept, and so is everything else: a clean one-line text passes through
unchanged, so figures on clean input stay exactly pycocoevalcap's (its ROUGE-L splits on single
spaces, and published figures were computed on such texts). The limits are far above any
radiology report (IU X-Ray's longest reference has 230 words; R2Gen cuts MIMIC-CXR's at 100
tokens), so only degenerate output is cut.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_WORDS = 1000
"""Words kept per text (whitespace-separated); the rest is cut, with a warning."""
MAX_CHARS = 20_000
"""Characters kept per text, for texts with few but enormous words."""

_OTHER_WHITESPACE = re.compile(r"[^\S ]+(?: *[^\S ]+)*")
_WORD = re.compile(r"\S+")
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def _removed(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char) in _REMOVED_CATEGORIES


def clean_text(text: str) -> str:
    """Steps 1-3 of the module docstring (no length limit); a clean one-line text is returned as is."""
    if text.isprintable() and "|||" not in text:  # the common case: nothing to do
        return text
    text = "".join(char for char in text if not _removed(char))
    text = _OTHER_WHITESPACE.sub(" ", text)
    return text.replace("|||", " ")


def cut(text: str) -> str:
    """``text`` cut to its first :data:`MAX_WORDS` words and :data:`MAX_CHARS` characters."""
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    for words, match in enumerate(_WORD.finditer(text), start=1):
        if words == MAX_WORDS:
            return text[: match.end()]
    return text


@dataclass
class NormalisedTexts:
    """Normalised texts, with the positions of those that were empty or had to be cut."""

    texts: list[str]
    empty: list[int] = field(default_factory=list)
    cut: list[int] = field(default_factory=list)


def normalise(texts: Sequence[str]) -> NormalisedTexts:
    """Every text cleaned and length-limited; empty (blank after cleaning) and cut ones noted."""
    out = NormalisedTexts([])
    for position, text in enumerate(texts):
        cleaned = clean_text(text)
        limited = cut(cleaned)
        if limited != cleaned:
            out.cut.append(position)
        if not limited.strip():
            out.empty.append(position)
        out.texts.append(limited)
    return out
