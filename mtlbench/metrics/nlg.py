"""Natural-language metrics through pycocoevalcap, with per-example sufficient statistics.

RRG papers (R2Gen and successors) call pycocoevalcap's scorers directly on the cleaned,
lower-cased texts, without the PTB tokenizer; so does mtlbench. Alongside each corpus score,
every example keeps what the statistics module needs to recompute the corpus score on any
resample: BLEU's n-gram matches and lengths (pycocoevalcap's "comps"), its ROUGE-L, its CIDEr-D
(corpus CIDEr-D is the mean; note that its IDF comes from the full reference set of the
evaluation, as pycocoevalcap computes it) and its METEOR statistics line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocoevalcap.bleu.bleu_scorer import BleuScorer
from pycocoevalcap.cider.cider_scorer import CiderScorer
from pycocoevalcap.rouge.rouge import Rouge

from mtlbench.formulas import bleu


def bleu_stats(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, Any]]:
    """pycocoevalcap's per-sentence BLEU comps (one reference per example)."""
    scorer = BleuScorer(n=4)
    for hypothesis, reference in zip(predictions, references):
        scorer += (hypothesis, [reference])
    out = []
    for comps in scorer.ctest:
        reflen = comps["reflen"]
        out.append(
            {
                "testlen": int(comps["testlen"]),
                # one reference: pycocoevalcap's "closest" rule picks its length
                "reflen": int(reflen[0] if isinstance(reflen, list) else reflen),
                "guess": [int(g) for g in comps["guess"]],
                "correct": [int(c) for c in comps["correct"]],
            }
        )
    return out


def bleu_from_stats(stats: Sequence[Mapping[str, Any]], n: int) -> float:
    """Corpus BLEU-n from per-example comps (as :func:`bleu_stats` gives them), as pycocoevalcap's BleuScorer."""
    sums = np.zeros(10)
    for s in stats:
        sums += [s["testlen"], s["reflen"], *s["guess"][:4], *s["correct"][:4]]
    return float(bleu(sums, n))


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Per-example ROUGE-L F (beta 1.2) as pycocoevalcap; the corpus figure is their mean."""
    scorer = Rouge()
    return [float(scorer.calc_score([p], [r])) for p, r in zip(predictions, references)]


def cider_d(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Per-example CIDEr-D as pycocoevalcap (IDF from this evaluation's references).

    References without a single word give no n-gram to weigh: every score is 0 (pycocoevalcap
    itself fails on them with ``max() arg is an empty sequence``).
    """
    if not any(reference.split() for reference in references):
        return [0.0] * len(predictions)
    scorer = CiderScorer(n=4, sigma=6.0)
    for hypothesis, reference in zip(predictions, references):
        scorer += (hypothesis, [reference])
    _, scores = scorer.compute_score()
    return [float(s) for s in scores]
