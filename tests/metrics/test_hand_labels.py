"""The hand-labelled IU X-Ray sample (tests/metrics/data/iu_hand_labels.jsonl): its consistency, its
random draw, and the rules labeler's agreement with it (benchmarks/labeler_agreement.md has the figures)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from mtlbench.data import clean_report, load_annotation
from mtlbench.data.schema import CHEXPERT_LABELS
from mtlbench.metrics.clinical import to_binary
from mtlbench.metrics.rules import label_report

HAND = Path(__file__).parent / "data" / "iu_hand_labels.jsonl"
ROWS = [json.loads(line) for line in HAND.read_text(encoding="utf-8").splitlines()]
RANDOM = [r for r in ROWS if r["sample"] == "random"]
CODES = {1, 0, -1}


def _codes(row: dict) -> list[float]:
    return [float(row["labels"].get(name, math.nan)) for name in CHEXPERT_LABELS]


def test_the_sample_is_consistent_with_chexperts_aggregation() -> None:
    assert [r["draw"] for r in RANDOM] == list(range(200))
    assert [r["part"] for r in RANDOM] == ["dev"] * 100 + ["held-out"] * 100
    assert len({r["id"] for r in ROWS}) == len(ROWS), "a report is labelled twice"
    assert {r["sample"] for r in ROWS} == {"random", "doubtful-fracture", "doubtful-no-finding"}
    for row in ROWS:
        assert set(row["labels"]) <= set(CHEXPERT_LABELS) and set(row["labels"].values()) <= CODES, row["id"]
        assert set(row["other"].values()) <= CODES and set(row["unlisted"].values()) <= CODES, row["id"]
        finding = any(
            c in (1, -1) for name, c in row["labels"].items() if name not in ("Support Devices", "No Finding")
        )
        finding |= any(c in (1, -1) for c in row["other"].values())  # CheXpert's No Finding phrase list
        assert row["labels"].get("No Finding") == (None if finding else 1), row["id"]


def test_the_random_draw_is_reproducible_from_the_annotation(shared_iu: Path) -> None:
    test = load_annotation(shared_iu / "annotation.json", name="iu_xray").splits["test"]
    reports = {ex.id: ex.report for ex in test}
    assert [r["id"] for r in RANDOM] == random.Random(16).sample([ex.id for ex in test], 200)
    assert all(reports[r["id"]] == r["report"] for r in ROWS)


def _micro_f1(rows: list[dict], texts: list[str]) -> float:
    hand = to_binary([_codes(r) for r in rows], "positive")
    rules = to_binary([label_report(t) for t in texts], "positive")
    tp = int((hand & rules).sum())
    return 2 * tp / (hand.sum() + rules.sum())


@pytest.mark.parametrize("cleaned", [False, True], ids=["raw", "r2gen-cleaned"])
def test_the_rules_agree_with_the_held_out_hand_labels(cleaned: bool) -> None:
    """Floors a little under the measured figures (held-out 0.961, all 0.980, No Finding 200/200): the held-out
    half was never read while the rules were changed, so it measures them; a change that lowers it is a regression."""
    texts = [clean_report(r["report"], "iu_xray") if cleaned else r["report"] for r in RANDOM]
    held_out = [i for i, r in enumerate(RANDOM) if r["part"] == "held-out"]
    assert _micro_f1([RANDOM[i] for i in held_out], [texts[i] for i in held_out]) >= 0.95
    assert _micro_f1(RANDOM, texts) >= 0.97
    nf = CHEXPERT_LABELS.index("No Finding")
    hand = np.array([r["labels"].get("No Finding") == 1 for r in RANDOM])
    rules = np.array([label_report(t)[nf] == 1.0 for t in texts])
    assert (hand == rules).mean() >= 0.98
