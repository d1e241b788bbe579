"""Clinical efficacy: precision, recall and F1 of the findings a labeler reads in the texts.

Both sides (generated and reference reports) are labelled by the same labeler; codes become
0/1 under the uncertain policy ("positive": uncertain counts as present, as f1chexbert and
CAME-Grad do; "negative": as absent, as R2GenCMN does); blank counts as absent. Averages:
micro (pooled over the 14 labels), macro (mean of per-label figures; a label with no positive
on either side scores 0, as sklearn's zero_division=0), example-based (per report, then the
mean; sklearn's average="samples"),
and micro-F1 over the 5 CheXpert competition labels. Every 0/0 is 0 (sklearn's zero_division=0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtlbench.data.schema import CHEXPERT_LABELS, COMPETITION_LABELS, binarize


def to_binary(codes: Sequence[Sequence[float]], uncertain: str) -> np.ndarray:
    """[N, 14] 0/1 array from CheXpert codes under the uncertain policy."""
    return np.array([[binarize(c, uncertain) for c in row] for row in codes], dtype=np.int64).reshape(
        -1, len(CHEXPERT_LABELS)
    )


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, *, empty: float) -> tuple[np.ndarray, ...]:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        r = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
        f = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), empty)
    if empty:
        none = tp + fp + fn == 0
        p, r = np.where(none, empty, p), np.where(none, empty, r)
    return p, r, f


def ce_scores(generated: np.ndarray, reference: np.ndarray) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Corpus CE figures and per-label figures from [N, 14] 0/1 arrays."""
    tp = (generated & reference).sum(0)
    fp = (generated & (1 - reference)).sum(0)
    fn = ((1 - generated) & reference).sum(0)
    corpus: dict[str, float] = {}
    mp, mr, mf = _prf(tp.sum(), fp.sum(), fn.sum(), empty=0.0)
    corpus |= {"CE_P_micro": float(mp), "CE_R_micro": float(mr), "CE_F1_micro": float(mf)}
    lp, lr, lf = _prf(tp, fp, fn, empty=0.0)
    corpus |= {"CE_P_macro": float(lp.mean()), "CE_R_macro": float(lr.mean()), "CE_F1_macro": float(lf.mean())}
    etp = (generated & reference).sum(1)
    efp = (generated & (1 - reference)).sum(1)
    efn = ((1 - generated) & reference).sum(1)
    ep, er, ef = _prf(etp, efp, efn, empty=0.0)
    corpus |= {"CE_P_example": float(ep.mean()), "CE_R_example": float(er.mean()), "CE_F1_example": float(ef.mean())}
    five = [CHEXPERT_LABELS.index(name) for name in COMPETITION_LABELS]
    corpus["CE_F1_micro5"] = float(_prf(tp[five].sum(), fp[five].sum(), fn[five].sum(), empty=0.0)[2])
    per_label = {
        name: {"P": float(lp[i]), "R": float(lr[i]), "F1": float(lf[i]), "support": int(reference[:, i].sum())}
        for i, name in enumerate(CHEXPERT_LABELS)
    }
    return corpus, per_label
