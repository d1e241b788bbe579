"""The shared vocabulary and formulas: scalar and vectorised binarisation agree; P/R/F1 equal sklearn's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from mtlbench.chexpert import UNCERTAIN_POLICIES, binarize, binarize_codes
from mtlbench.formulas import f1_from_counts, precision_from_counts, recall_from_counts


@pytest.mark.parametrize("uncertain", UNCERTAIN_POLICIES)
def test_binarize_and_its_vectorised_form_agree_on_every_code(uncertain: str) -> None:
    codes = [1.0, 0.0, -1.0, math.nan]
    assert binarize_codes(np.array(codes), uncertain).tolist() == [binarize(c, uncertain) for c in codes]
    assert [binarize(c, uncertain) for c in codes] == [1, 0, int(uncertain == "positive"), 0]
    with pytest.raises(ValueError, match="uncertain policy"):
        binarize_codes(np.array(codes), "maybe")


def test_precision_recall_f1_from_counts_equal_sklearn_with_zero_division_0() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, size=(40, 6))
    truth[:, 5] = 0  # a label that is never positive anywhere: every figure 0
    predicted = rng.integers(0, 2, size=(40, 6))
    predicted[:, 5] = 0
    tp = (truth & predicted).sum(0)
    fp = ((1 - truth) & predicted).sum(0)
    fn = (truth & (1 - predicted)).sum(0)
    p, r, f, _ = precision_recall_fscore_support(truth, predicted, average=None, zero_division=0)
    np.testing.assert_allclose(precision_from_counts(tp, fp), p, rtol=1e-15)
    np.testing.assert_allclose(recall_from_counts(tp, fn), r, rtol=1e-15)
    np.testing.assert_allclose(f1_from_counts(tp, fp, fn), f, rtol=1e-12)
