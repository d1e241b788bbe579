"""NLG metrics: pycocoevalcap's figures on the shared sample, and exact sufficient statistics."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.meteor.meteor import Meteor

from mtlbench.cli import cli
from mtlbench.metrics import bleu_from_stats
from mtlbench.metrics.meteor import meteor, meteor_from_stats
from mtlbench.metrics.nlg import bleu_stats


@pytest.fixture(scope="module")
def sample(shared_iu: Path) -> tuple[list[str], list[str], list[str]]:
    folder = shared_iu / "sample_predictions"
    preds = json.loads((folder / "test_preds.json").read_text())
    refs = json.loads((folder / "test_refs.json").read_text())
    ids = sorted(preds)
    return ids, [preds[i][0] for i in ids], [refs[i][0] for i in ids]


def test_eval_command_reproduces_the_published_pycocoevalcap_figures(shared_iu: Path, tmp_path: Path) -> None:
    folder = shared_iu / "sample_predictions"
    out = tmp_path / "rows.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "--preds",
            str(folder / "test_preds.json"),
            "--refs",
            str(folder / "test_refs.json"),
            "--per-sample",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    figures = {
        line.split()[0]: float(line.split()[1])
        for line in result.output.splitlines()
        if line[:1].isupper() and len(line.split()) == 2
    }
    expected = {"BLEU_1": 0.40039, "BLEU_4": 0.10604, "ROUGE_L": 0.32116, "CIDEr": 0.16439, "METEOR": 0.15652}
    for key, value in expected.items():
        assert round(figures[key], 5) == value, key
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 382 and set(rows[0]["stats"]) >= {"bleu", "rouge_l", "cider", "meteor", "meteor_stats"}


def test_bleu_from_stats_equals_pycocoevalcap_on_random_subsets(sample: tuple[list[str], list[str], list[str]]) -> None:
    ids, preds, refs = sample
    stats = bleu_stats(preds, refs)
    rng = random.Random(0)
    for size in (1, 7, 50, 200):
        pick = rng.sample(range(len(ids)), size)
        gts = {ids[i]: [refs[i]] for i in pick}
        res = {ids[i]: [preds[i]] for i in pick}
        expected, _ = Bleu(4).compute_score(gts, res, verbose=0)
        got = [bleu_from_stats([stats[i] for i in pick], n) for n in (1, 2, 3, 4)]
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_meteor_from_stored_stats_equals_a_fresh_meteor_on_a_subset(
    sample: tuple[list[str], list[str], list[str]],
) -> None:
    _, preds, refs = sample
    _, _, lines = meteor(preds[:40], refs[:40])
    subset = [[float(v) for v in line.split()] for line in lines[5:25]]
    scorer = Meteor()
    try:
        expected, _ = scorer.compute_score({i: [refs[i]] for i in range(5, 25)}, {i: [preds[i]] for i in range(5, 25)})
    finally:
        del scorer
    assert meteor_from_stats(subset) == pytest.approx(expected, abs=1e-9)
