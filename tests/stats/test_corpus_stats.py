"""Corpus metrics recomputed from per-example sufficient statistics equal the reference implementations,
on the full set, on subsets and on bootstrap resamples (examples repeated by their weights)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu

from mtlbench.metrics.clinical import ce_scores
from mtlbench.metrics.nlg import bleu_stats
from mtlbench.stats.bootstrap import resample_weights
from mtlbench.stats.catalogue import METRICS, evaluate
from mtlbench.stats.corpus import bleu, meteor
from mtlbench.stats.features import Layout, build_blocks, meteor_segment_chunks

WORDS = ["the", "heart", "size", "is", "normal", "lungs", "are", "clear", "no", "pleural", "effusion", "or",
         "pneumothorax", "mild", "cardiomegaly", "edema"]  # fmt: skip


def _texts(rng: np.random.Generator, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 14)))) for _ in range(n)]


def _comps(preds: list[str], refs: list[str]) -> np.ndarray:
    return np.array([[c["testlen"], c["reflen"], *c["guess"], *c["correct"]] for c in bleu_stats(preds, refs)], float)


def _pycoco_bleu(preds: list[str], refs: list[str]) -> list[float]:
    ids = [str(i) for i in range(len(preds))]
    scores, _ = Bleu(4).compute_score({i: [r] for i, r in zip(ids, refs)}, {i: [p] for i, p in zip(ids, preds)},
                                      verbose=0)  # fmt: skip
    return scores


def test_bleu_from_sufficient_statistics_equals_pycocoevalcap_on_subsets_and_resamples() -> None:
    rng = np.random.default_rng(0)
    preds, refs = _texts(rng, 60), _texts(rng, 60)
    comps = _comps(preds, refs)
    subset = rng.choice(60, size=25, replace=False)
    expected = _pycoco_bleu([preds[i] for i in subset], [refs[i] for i in subset])
    assert [float(bleu(comps[subset].sum(0), n)) for n in (1, 2, 3, 4)] == pytest.approx(expected, rel=1e-12)
    # a bootstrap resample is the corpus with example i repeated w_i times
    weights = resample_weights(rng, 60, 1)[0]
    repeated = np.repeat(np.arange(60), weights.astype(int))
    expected = _pycoco_bleu([preds[i] for i in repeated], [refs[i] for i in repeated])
    assert float(bleu(weights @ comps, 4)) == pytest.approx(expected[3], rel=1e-12)


def test_bleu_recomputed_from_stats_equals_pycocoevalcap_on_an_iu_subset(shared_iu: Path) -> None:
    folder = shared_iu / "sample_predictions"
    preds = json.loads((folder / "test_preds.json").read_text())
    refs = json.loads((folder / "test_refs.json").read_text())
    ids = sorted(preds)[::3]
    matrix = _comps([preds[i][0] for i in ids], [refs[i][0] for i in ids])
    expected, _ = Bleu(4).compute_score({i: refs[i] for i in ids}, {i: preds[i] for i in ids}, verbose=0)
    assert [float(bleu(matrix.sum(0), n)) for n in (1, 2, 3, 4)] == pytest.approx(expected, rel=1e-12)


def _ce(definition_keys: tuple[str, ...], generated: np.ndarray, reference: np.ndarray, weights: np.ndarray) -> dict:
    rows = [{"labels_generated": g.tolist(), "labels_reference": r.tolist()} for g, r in zip(generated, reference)]
    defs = [METRICS[k] for k in definition_keys]
    layout = Layout(tuple(dict.fromkeys(b for d in defs for b in d.blocks)))
    matrix = layout.assemble(build_blocks(rows, "positive", layout.blocks), len(rows))
    values = evaluate(defs, layout.split(weights @ matrix), float(weights.sum()))
    return dict(zip(definition_keys, values))


def test_ce_figures_from_tp_fp_fn_equal_a_direct_computation_and_sklearn() -> None:
    try:
        from sklearn import metrics as sklearn_metrics
    except ImportError:  # scikit-learn is optional here: the direct computation still runs
        sklearn_metrics = None
    rng = np.random.default_rng(1)
    reference = (rng.random((80, 14)) < 0.25).astype(float)
    generated = np.where(rng.random((80, 14)) < 0.7, reference, 1 - reference)
    generated[:, 10] = 0  # a label never predicted: its precision is 0/0 -> 0
    keys = ("CE_P_micro", "CE_R_micro", "CE_F1_micro", "CE_F1_macro", "CE_F1_example", "CE_F1_micro5")
    for weights in (np.ones(80), resample_weights(rng, 80, 1)[0]):
        repeated = np.repeat(np.arange(80), weights.astype(int))
        g, r = generated[repeated].astype(int), reference[repeated].astype(int)
        got = _ce(keys, generated, reference, weights)
        tp, fp, fn = (g & r).sum(), (g & (1 - r)).sum(), ((1 - g) & r).sum()
        assert got["CE_F1_micro"] == pytest.approx(2 * tp / (2 * tp + fp + fn), rel=1e-12)  # direct
        assert got["CE_P_micro"] == pytest.approx(tp / (tp + fp), rel=1e-12)
        assert got["CE_R_micro"] == pytest.approx(tp / (tp + fn), rel=1e-12)
        corpus, _ = ce_scores(g, r)  # the runner's own CE figures
        if sklearn_metrics is not None:
            f1 = sklearn_metrics.f1_score
            assert got["CE_F1_micro"] == pytest.approx(f1(r, g, average="micro"), rel=1e-12)
            assert got["CE_F1_macro"] == pytest.approx(f1(r, g, average="macro", zero_division=0), rel=1e-12)
            assert got["CE_F1_example"] == pytest.approx(f1(r, g, average="samples", zero_division=0), rel=1e-12)
        assert all(got[k] == pytest.approx(corpus[k], rel=1e-12) for k in keys)


def test_uncertain_policy_decides_what_counts_as_found() -> None:
    reference = np.zeros((1, 14))
    generated = np.zeros((1, 14))
    reference[0, 1], generated[0, 1] = 1.0, -1.0  # uncertain cardiomegaly against a positive one
    positive = _ce(("CE_F1_micro",), generated, reference, np.ones(1))
    rows = [{"labels_generated": generated[0].tolist(), "labels_reference": reference[0].tolist()}]
    block = build_blocks(rows, "negative", ["ce_micro"])["ce_micro"]
    assert positive["CE_F1_micro"] == 1.0 and block.tolist() == [[0.0, 0.0, 1.0]]


@pytest.mark.slow  # starts the Meteor jar (shared with tests/metrics in one session)
@pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs Java")
def test_meteor_aggregate_from_stats_equals_the_meteor_jar_on_a_subset() -> None:
    from mtlbench.metrics.meteor import meteor as run_meteor
    from mtlbench.metrics.meteor import meteor_from_stats

    rng = np.random.default_rng(2)
    preds, refs = _texts(rng, 30), _texts(rng, 30)
    preds[0] = refs[0]  # a perfect segment: its chunk is not counted
    _, _, lines = run_meteor(preds, refs)
    stats = np.array([[float(v) for v in line.split()] for line in lines])
    subset = stats[::2]
    assert float(meteor(meteor_segment_chunks(subset).sum(0))) == pytest.approx(meteor_from_stats(subset), abs=1e-9)
