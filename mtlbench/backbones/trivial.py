"""The trivial baseline of report generation: write the most frequent training report for every study.

A model that does not beat it on BLEU-4 and clinical efficacy has learned nothing from the
images. When no report occurs more often than the others (every synthetic report is unique, and
so are most MIMIC-CXR reports), the tie is broken by typicality: the report whose sentences are
on average the most frequent sentences of the training split (a stock report in the commonest
phrasings; it may state the commonest finding). Ties beyond that go to the earliest report, so
the choice is stable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from mtlbench.errors import MtlbenchError


def _sentences(report: str) -> list[str]:
    return [s.strip() for s in report.split(" .") if s.strip()]


def most_frequent_report(reports: Sequence[str]) -> str:
    """The most frequent of ``reports`` (cleaned texts), ties broken by mean sentence frequency."""
    if not reports:
        raise MtlbenchError("no training reports to pick the most frequent one from")
    counts = Counter(reports)
    top = max(counts.values())
    tied = [r for r in dict.fromkeys(reports) if counts[r] == top]
    if len(tied) == 1:
        return tied[0]
    sentence_counts = Counter(s for r in reports for s in _sentences(r))

    def typicality(report: str) -> float:
        sentences = _sentences(report)
        return sum(sentence_counts[s] for s in sentences) / max(len(sentences), 1)

    return max(tied, key=typicality)  # max keeps the first of equal scores
