"""Clinical efficacy scores against sklearn, under both uncertain policies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from mtlbench.data.schema import CHEXPERT_LABELS, COMPETITION_LABELS
from mtlbench.metrics.clinical import ce_scores, to_binary

NAN = math.nan


@pytest.mark.parametrize("uncertain", ["positive", "negative"])
def test_ce_scores_match_sklearn(uncertain: str) -> None:
    rng = np.random.default_rng(3)
    codes = rng.choice([1.0, 0.0, -1.0, NAN], size=(2, 60, 14), p=[0.2, 0.3, 0.1, 0.4])
    gen, ref = to_binary(codes[0], uncertain), to_binary(codes[1], uncertain)
    corpus, per_label = ce_scores(gen, ref)
    for average in ("micro", "macro", "samples"):
        key = "example" if average == "samples" else average
        kw = {"average": average, "zero_division": 0}
        assert corpus[f"CE_P_{key}"] == pytest.approx(precision_score(ref, gen, **kw))
        assert corpus[f"CE_R_{key}"] == pytest.approx(recall_score(ref, gen, **kw))
        assert corpus[f"CE_F1_{key}"] == pytest.approx(f1_score(ref, gen, **kw))
    five = [CHEXPERT_LABELS.index(n) for n in COMPETITION_LABELS]
    assert corpus["CE_F1_micro5"] == pytest.approx(
        f1_score(ref[:, five], gen[:, five], average="micro", zero_division=0)
    )
    assert per_label["Edema"]["F1"] == pytest.approx(f1_score(ref[:, 4], gen[:, 4], zero_division=0))


def test_uncertain_policy_changes_the_binarisation() -> None:
    assert to_binary([[-1.0] * 14], "positive").sum() == 14
    assert to_binary([[-1.0] * 14], "negative").sum() == 0
