"""The leaderboard's metrics: name, group, direction, and how each follows from summed statistics."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mtlbench.formulas import bleu, f1_from_counts, precision_from_counts, recall_from_counts
from mtlbench.stats.corpus import meteor
from mtlbench.stats.features import AUC_COLUMNS, N_LABELS

Sums = Mapping[str, np.ndarray]
Formula = Callable[[Sums, float], np.ndarray]

NLG, CE, MODEL, CLS, ALIGN = "NLG", "CE", "MODEL", "CLS", "ALIGN"
GROUPS: tuple[str, ...] = (NLG, CE, MODEL, CLS, ALIGN)
TASK_OF_GROUP: dict[str, str] = {NLG: "report", CE: "report", MODEL: "report", CLS: "cls", ALIGN: "align"}
"""The trained task each metric group measures: NLG, CE and model-based metrics all score the
generated report; CLS scores the classification head, ALIGN the alignment head's retrieval.
Delta_m% averages over these tasks."""

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
    task_metric: bool = False
    """Scores a trained task other than the report (cls): a store of runs without that task needs no
    note in every table, only one line saying which tasks Delta_m% covers."""

    @property
    def task(self) -> str:
        """The trained task this metric measures (Delta_m%'s unit of averaging)."""
        return TASK_OF_GROUP[self.group]

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


def auroc_from_sums(sums: np.ndarray, n: float) -> np.ndarray:
    """AUROC from summed placement columns ``[..., AUC_COLUMNS]`` (see ``stats.features.auc_columns``).

    A + C over their class weights minus the full-set AUROC (DeLong's linearisation): exact at unit
    weights, first-order on a resample; the full-set value where a resample lacks a class; NaN
    where the full test set has only one class (AUROC undefined).
    """
    pos_place, pos, neg_place, neg, full, defined = (sums[..., c] for c in range(AUC_COLUMNS))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = pos_place / pos + neg_place / neg - full / n
    value = np.where((pos > 0) & (neg > 0), value, full / n)
    return np.where(defined > 0, value, np.nan)


def _cls_auroc(average: str) -> Formula:
    def formula(sums: Sums, n: float) -> np.ndarray:
        if average == "micro":
            return auroc_from_sums(sums["cls_auc_micro"], n)
        s = sums["cls_auc_label"]
        per_label = auroc_from_sums(s.reshape(*s.shape[:-1], N_LABELS, AUC_COLUMNS), n)
        defined = ~np.isnan(per_label)
        count = defined.sum(axis=-1)
        total = np.where(defined, per_label, 0.0).sum(axis=-1)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    return formula


def _cls_f1(average: str) -> Formula:
    def formula(sums: Sums, n: float) -> np.ndarray:
        s = sums["cls_label"]
        tp, fp, fn = s[..., :N_LABELS], s[..., N_LABELS : 2 * N_LABELS], s[..., 2 * N_LABELS :]
        if average == "micro":
            return f1_from_counts(tp.sum(-1), fp.sum(-1), fn.sum(-1))
        return f1_from_counts(tp, fp, fn).mean(axis=-1)

    return formula


_AUROC_NOTE = (
    "cls AUROC on resamples is DeLong's linearisation (placement values from the full test set; exact on the "
    "full set); macro AUROC averages the findings with both classes in the test set"
)
_CLS: tuple[MetricDef, ...] = (
    MetricDef(
        "CLS_AUROC_micro", "AUROC-mic", CLS, ("cls_auc_micro",), _cls_auroc("micro"), note=_AUROC_NOTE, task_metric=True
    ),
    MetricDef(
        "CLS_AUROC_macro", "AUROC-mac", CLS, ("cls_auc_label",), _cls_auroc("macro"), note=_AUROC_NOTE, task_metric=True
    ),
    MetricDef("CLS_F1_micro", "cF1-mic", CLS, ("cls_label",), _cls_f1("micro"), task_metric=True),
    MetricDef("CLS_F1_macro", "cF1-mac", CLS, ("cls_label",), _cls_f1("macro"), task_metric=True),
)
_ALIGN: tuple[MetricDef, ...] = tuple(
    MetricDef(
        f"ALIGN_R{k}_{direction}",
        f"R@{k}-{direction}",
        ALIGN,
        ("align_hits",),
        _mean("align_hits", i),
        note="retrieval recall@k on resamples resamples the queries; the gallery stays the whole test split",
        task_metric=True,
    )
    for i, (direction, k) in enumerate((d, k) for d in ("i2t", "t2i") for k in (1, 5, 10))
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

METRICS: dict[str, MetricDef] = {m.key: m for m in (*_NLG, *_CE, *_MODEL, *_CLS, *_ALIGN)}
"""Every leaderboard metric by key, in display order."""

FALLBACKS: dict[str, tuple[MetricDef, ...]] = {"METEOR": (METEOR_MEAN,)}
"""Variants used, in order, when a cell's runs lack the statistics of the preferred one."""


def variants(key: str) -> tuple[MetricDef, ...]:
    """The preferred definition of ``key`` followed by its fallbacks."""
    return (METRICS[key], *FALLBACKS.get(key, ()))


def evaluate(defs: Sequence[MetricDef], sums: Sums, n: float) -> np.ndarray:
    """All ``defs`` on summed statistics: ``[..., len(defs)]``."""
    return np.stack([d.formula(sums, n) for d in defs], axis=-1)
