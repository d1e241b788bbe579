"""The cls task's own test metrics: AUROC and F1 (micro and macro) of the head's probabilities.

The classification head is trained on the 14 CheXpert-style targets of the reference report
(uncertain mapped by ``train.cls_uncertain``, blank negative); it is scored here on the test
split against the same targets, so these figures measure the TASK that was trained, unlike the
CE metrics, which label the GENERATED report.

Conventions: F1 thresholds the probabilities at 0.5 (the head's sigmoid); micro pools the
(example, finding) pairs, macro averages over the findings. AUROC is the Mann-Whitney statistic
(ties count one half, as sklearn's ``roc_auc_score``); micro AUROC ravels the (example, finding)
pairs (sklearn's ``average="micro"``); macro averages over the findings with both a positive and
a negative test example (AUROC is undefined otherwise; sklearn refuses such a finding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtlbench.errors import MtlbenchError
from mtlbench.formulas import CLS_THRESHOLD, auroc, f1_from_counts

CLS_KEYS = ("CLS_AUROC_micro", "CLS_AUROC_macro", "CLS_F1_micro", "CLS_F1_macro")
"""The corpus figures the cls task adds to a run's test metrics."""


@dataclass(frozen=True)
class ClassificationScores:
    corpus: dict[str, float]
    per_label: dict[str, dict[str, float]]
    """Per finding: AUROC (NaN when undefined) and F1."""


def check_outputs(probs: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """[n, L] probabilities in [0, 1] and [n, L] 0/1 targets, or one line saying what is wrong."""
    p, t = np.asarray(probs, float), np.asarray(targets, float)
    if p.ndim != 2 or p.shape != t.shape or p.shape[0] == 0:
        raise MtlbenchError(
            f"cls outputs: probabilities {p.shape} and targets {t.shape} must both be [examples, findings]"
        )
    if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise MtlbenchError("cls outputs: probabilities must be finite numbers in [0, 1] (the head's sigmoid)")
    if not np.isin(t, (0.0, 1.0)).all():
        raise MtlbenchError("cls outputs: targets must be 0 or 1")
    return p, t.astype(bool)


def score_classification(probs: Any, targets: Any, labels: Sequence[str]) -> ClassificationScores:
    """The cls task's corpus figures (``CLS_KEYS``) and per-finding AUROC and F1."""
    p, t = check_outputs(probs, targets)
    predicted = p >= CLS_THRESHOLD
    tp = (predicted & t).sum(0)
    fp = (predicted & ~t).sum(0)
    fn = (~predicted & t).sum(0)
    per_auc = np.array([auroc(p[:, j], t[:, j]) for j in range(p.shape[1])])
    per_f1 = f1_from_counts(tp, fp, fn)
    defined = ~np.isnan(per_auc)
    corpus = {
        "CLS_AUROC_micro": auroc(p.ravel(), t.ravel()),
        "CLS_AUROC_macro": float(per_auc[defined].mean()) if defined.any() else float("nan"),
        "CLS_F1_micro": float(f1_from_counts(tp.sum(), fp.sum(), fn.sum())),
        "CLS_F1_macro": float(np.mean(per_f1)),
    }
    per_label = {name: {"AUROC": float(per_auc[j]), "F1": float(per_f1[j])} for j, name in enumerate(labels)}
    return ClassificationScores(corpus, per_label)
