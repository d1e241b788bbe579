"""Clinical efficacy scores against sklearn, and the rule labeler's decisions on real sentences."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from mtlbench.data.schema import CHEXPERT_LABELS, COMPETITION_LABELS
from mtlbench.metrics.clinical import ce_scores, to_binary
from mtlbench.metrics.rules import label_report

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


def _labels(text: str) -> dict[str, float]:
    return {name: code for name, code in zip(CHEXPERT_LABELS, label_report(text)) if not math.isnan(code)}


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        (
            "The heart is normal in size. The mediastinum is unremarkable. The lungs are clear.",
            {"Cardiomegaly": 0.0, "Enlarged Cardiomediastinum": 0.0, "No Finding": 1.0},
        ),
        ("No pneumothorax or pleural effusion.", {"Pneumothorax": 0.0, "Pleural Effusion": 0.0, "No Finding": 1.0}),
        ("No acute cardiopulmonary abnormality.", {"No Finding": 1.0}),
        ("Mild cardiomegaly. Small left pleural effusion.", {"Cardiomegaly": 1.0, "Pleural Effusion": 1.0}),
        (
            "Left basilar opacity may represent atelectasis or pneumonia.",
            {"Lung Opacity": 1.0, "Atelectasis": -1.0, "Pneumonia": -1.0},
        ),
        ("Small right effusion cannot be excluded.", {"Pleural Effusion": -1.0}),
        # aggregation: negative and positive -> positive; negative and uncertain -> uncertain
        ("No large effusion. Small left pleural effusion.", {"Pleural Effusion": 1.0}),
        ("No effusion. Possible small effusion on the right.", {"Pleural Effusion": -1.0}),
        ("Calcified granuloma in the right upper lobe. No pneumothorax.", {"Pneumothorax": 0.0, "No Finding": 1.0}),
        ("Left chest pacemaker in place. The lungs are clear.", {"Support Devices": 1.0, "No Finding": 1.0}),
        ("No pericardial effusion.", {"No Finding": 1.0}),
        ("xxxx xxxx are normal. Degenerative changes of the spine.", {"No Finding": 1.0}),
        ("Stable mild enlargement of the cardiac silhouette but no edema.", {"Cardiomegaly": 1.0, "Edema": 0.0}),
        ("Healed left rib fractures.", {"Fracture": 1.0}),
    ],
)
def test_rule_labeler_decisions_on_pinned_sentences(sentence: str, expected: dict[str, float]) -> None:
    assert _labels(sentence) == expected


def test_rule_labeler_prevalences_on_the_real_iu_train_reports(shared_iu: Path) -> None:
    from mtlbench.data import load_annotation

    train = load_annotation(shared_iu / "annotation.json", name="iu_xray").splits["train"]
    codes = np.array([label_report(ex.report) for ex in train])
    positive = {name: float(np.mean(codes[:, i] == 1.0)) for i, name in enumerate(CHEXPERT_LABELS)}
    assert 0.35 <= positive["No Finding"] <= 0.75
    assert 0.05 <= positive["Cardiomegaly"] <= 0.2
    assert positive["Pneumothorax"] < 0.02
    assert all(0 <= v < 0.2 for name, v in positive.items() if name != "No Finding")
