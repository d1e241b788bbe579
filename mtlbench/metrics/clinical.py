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

from mtlbench.chexpert import CHEXPERT_LABELS, COMPETITION_LABELS, binarize_codes
from mtlbench.formulas import f1_from_counts, precision_from_counts, recall_from_counts


def to_binary(codes: Sequence[Sequence[float]], uncertain: str) -> np.ndarray:
    """[N, 14] 0/1 array from CheXpert codes (None or NaN: blank) under the uncertain policy."""
    return binarize_codes(np.array(codes, dtype=float).reshape(-1, len(CHEXPERT_LABELS)), uncertain)


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, ...]:
    return precision_from_counts(tp, fp), recall_from_counts(tp, fn), f1_from_counts(tp, fp, fn)


def ce_scores(generated: np.ndarray, reference: np.ndarray) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Corpus CE figures and per-label figures from [N, 14] 0/1 arrays."""
    tp = (generated & reference).sum(0)
    fp = (generated & (1 - reference)).sum(0)
    fn = ((1 - generated) & reference).sum(0)
    corpus: dict[str, float] = {}
    mp, mr, mf = _prf(tp.sum(), fp.sum(), fn.sum())
    corpus |= {"CE_P_micro": float(mp), "CE_R_micro": float(mr), "CE_F1_micro": float(mf)}
    lp, lr, lf = _prf(tp, fp, fn)
    corpus |= {"CE_P_macro": float(lp.mean()), "CE_R_macro": float(lr.mean()), "CE_F1_macro": float(lf.mean())}
    etp = (generated & reference).sum(1)
    efp = (generated & (1 - reference)).sum(1)
    efn = ((1 - generated) & reference).sum(1)
    ep, er, ef = _prf(etp, efp, efn)
    corpus |= {"CE_P_example": float(ep.mean()), "CE_R_example": float(er.mean()), "CE_F1_example": float(ef.mean())}
    five = [CHEXPERT_LABELS.index(name) for name in COMPETITION_LABELS]
    corpus["CE_F1_micro5"] = float(_prf(tp[five].sum(), fp[five].sum(), fn[five].sum())[2])
    per_label = {
        name: {"P": float(lp[i]), "R": float(lr[i]), "F1": float(lf[i]), "support": int(reference[:, i].sum())}
        for i, name in enumerate(CHEXPERT_LABELS)
    }
    return corpus, per_label
