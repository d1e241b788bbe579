"""The leaderboard's metrics: name, group, direction, and how each follows from summed statistics."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mtlbench.formulas import bleu, f1_from_counts, precision_from_counts, recall_from_counts
from mtlbench.stats.corpus import meteor
from mtlbench.stats.features import N_LABELS

Sums = Mapping[str, np.ndarray]
Formula = Callable[[Sums, float], np.ndarray]

NLG, CE, MODEL = "NLG", "CE", "MODEL"
GROUPS: tuple[str, ...] = (NLG, CE, MODEL)

DELTA_M = "delta_m"
"""Key of the MTL aggregate Delta_m% (see :mod:`mtlbench.stats.across`): its own family of comparisons."""


@dataclass(frozen=True)
class MetricDef:
    """One leaderboard column; ``formula(sums, n)`` maps summed block statistics to the metric."""

    key: str
    label: str
    group: str
    blocks: tuple[str, ...]
    formula: Formula
    higher_is_better: bool = True
    note: str = ""
    """Said in the caption when this variant is used (e.g. an approximation)."""
    optional: bool = False
    """Computed only when asked for (model-based metrics): a store without it needs no note."""

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def sign(self) -> float:
        return 1.0 if self.higher_is_better else -1.0


def _mean(block: str, column: int = 0) -> Formula:
    return lambda sums, n: sums[block][..., column] / n


def _bleu(order: int) -> Formula:
    return lambda sums, n: bleu(sums["bleu"], order)


def _counts(sums: Sums, block: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = sums[block]
    if block == "ce_label":
        return s[..., :N_LABELS], s[..., N_LABELS : 2 * N_LABELS], s[..., 2 * N_LABELS :]
    return s[..., 0], s[..., 1], s[..., 2]


def _micro(kind: str, block: str) -> Formula:
    def formula(sums: Sums, n: float) -> np.ndarray:
        tp, fp, fn = _counts(sums, block)
        if kind == "P":
            return precision_from_counts(tp, fp)
        if kind == "R":
            return recall_from_counts(tp, fn)
        return f1_from_counts(tp, fp, fn)

    return formula


def _macro(kind: str) -> Formula:
    def formula(sums: Sums, n: float) -> np.ndarray:
        return _micro(kind, "ce_label")(sums, n).mean(axis=-1)

    return formula


_NLG: tuple[MetricDef, ...] = (
    *(MetricDef(f"BLEU_{k}", f"BLEU-{k}", NLG, ("bleu",), _bleu(k)) for k in range(1, 5)),
    MetricDef("METEOR", "METEOR", NLG, ("meteor",), lambda sums, n: meteor(sums["meteor"])),
    MetricDef("ROUGE_L", "ROUGE-L", NLG, ("rouge_l",), _mean("rouge_l")),
    MetricDef(
        "CIDEr",
        "CIDEr",
        NLG,
        ("cider",),
        _mean("cider"),
        note="CIDEr-D on resamples is the mean of per-example scores with IDF from the full test set",
    ),
)
_CE: tuple[MetricDef, ...] = (
    *(MetricDef(f"CE_{k}_micro", f"{k}-mic", CE, ("ce_micro",), _micro(k, "ce_micro")) for k in ("P", "R", "F1")),
    *(MetricDef(f"CE_{k}_macro", f"{k}-mac", CE, ("ce_label",), _macro(k)) for k in ("P", "R", "F1")),
    *(
        MetricDef(f"CE_{k}_example", f"{k}-ex", CE, ("ce_example",), _mean("ce_example", i))
        for i, k in enumerate(("P", "R", "F1"))
    ),
    MetricDef("CE_F1_micro5", "F1-mic5", CE, ("ce_micro5",), _micro("F1", "ce_micro5")),
)
_IDF_NOTE = "idf weights from the full test set's references"
_MODEL: tuple[MetricDef, ...] = (
    MetricDef("BERTScore", "BERTScore", MODEL, ("bertscore",), _mean("bertscore"), optional=True),
    MetricDef(
        "BERTScore_RadCliQ",
        "BERTS-RQ",
        MODEL,
        ("bertscore_radcliq",),
        _mean("bertscore_radcliq"),
        note=f"BERTS-RQ (RadCliQ's BERTScore) on resamples is the mean of per-example scores with {_IDF_NOTE}",
        optional=True,
    ),
    MetricDef("SembScore", "SembScore", MODEL, ("semb",), _mean("semb"), optional=True),
    *(
        MetricDef(
            f"F1RadGraph_{level}", f"RG-{level[0].upper()}", MODEL, ("radgraph",), _mean("radgraph", i), optional=True
        )
        for i, level in enumerate(("simple", "partial", "complete"))
    ),
    MetricDef("RadGraph_combined", "RG-comb", MODEL, ("radgraph_combined",), _mean("radgraph_combined"), optional=True),
    MetricDef(
        "RadCliQ_v1",
        "RadCliQ-v1",
        MODEL,
        ("radcliq_v1",),
        _mean("radcliq_v1"),
        higher_is_better=False,
        note=f"RadCliQ-v1 is the mean per-report score (lower is better; its BERTScore uses {_IDF_NOTE})",
        optional=True,
    ),
    MetricDef("RaTEScore", "RaTE", MODEL, ("ratescore",), _mean("ratescore"), optional=True),
)
METEOR_MEAN = MetricDef(
    "METEOR",
    "METEOR",
    NLG,
    ("meteor_mean",),
    _mean("meteor_mean"),
    note="METEOR on resamples is the mean of per-example scores (no Meteor statistics stored)",
)

METRICS: dict[str, MetricDef] = {m.key: m for m in (*_NLG, *_CE, *_MODEL)}
"""Every leaderboard metric by key, in display order."""

FALLBACKS: dict[str, tuple[MetricDef, ...]] = {"METEOR": (METEOR_MEAN,)}
"""Variants used, in order, when a cell's runs lack the statistics of the preferred one."""


def variants(key: str) -> tuple[MetricDef, ...]:
    """The preferred definition of ``key`` followed by its fallbacks."""
    return (METRICS[key], *FALLBACKS.get(key, ()))


def evaluate(defs: Sequence[MetricDef], sums: Sums, n: float) -> np.ndarray:
    """All ``defs`` on summed statistics: ``[..., len(defs)]``."""
    return np.stack([d.formula(sums, n) for d in defs], axis=-1)
