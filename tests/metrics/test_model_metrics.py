"""Model-based metrics: hand-computed examples, and the whole loading path on tiny models built here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import tiny_models as tiny
import torch
from click.testing import CliRunner

from mtlbench.cli import cli
from mtlbench.errors import MtlbenchError
from mtlbench.metrics import ModelPaths, evaluate, radcliq, radgraph
from mtlbench.metrics import bertscore as bs
from mtlbench.train.config import EvalConfig

SQ2 = math.sqrt(2.0)
VECTORS = {  # mean 0 and variance 1 each, so LayerNorm leaves them as they are
    "effusion": [1.0, 1.0, -1.0, -1.0],
    "no": [1.0, -1.0, 1.0, -1.0],
    "small": [SQ2, 0.0, -SQ2, 0.0],
    "normal": [1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3), -3 / math.sqrt(3)],
}


def _baseline_f(convention: bs.Convention) -> float:
    row = (bs.baseline_file(convention)).read_text().splitlines()[convention.layer + 1]
    return float(row.split(",")[3])


def test_bertscore_on_a_toy_embedding_matches_the_hand_computation(tmp_path: Path) -> None:
    pytest.importorskip("bert_score")
    root = tmp_path / "models"
    folder = tiny.toy_embedding_distilbert(root / "distilbert-base-uncased", {k: v + v for k, v in VECTORS.items()})
    assert folder.name == bs.RADEVAL.model
    # candidate "small normal" against reference "effusion": cos(small, effusion) = (sqrt2 + sqrt2) / 4,
    # cos(normal, effusion) = (1 + 1 - 1 + 3) / (4 sqrt3); P is their mean, R their maximum
    c_small, c_normal = 2 * SQ2 / 4, 4 / (4 * math.sqrt(3))
    precision, recall = (c_small + c_normal) / 2, max(c_small, c_normal)
    f1 = 2 * precision * recall / (precision + recall)
    b = _baseline_f(bs.RADEVAL)
    scores = bs.bertscore(bs.RADEVAL, ["small normal", "no effusion", ""], ["effusion", "no effusion", "effusion"],
                          ModelPaths(root))  # fmt: skip
    assert scores[0] == pytest.approx((f1 - b) / (1 - b), abs=1e-5)
    assert scores[1] == pytest.approx(1.0, abs=1e-5)  # identical reports
    assert scores[2] == pytest.approx((0.0 - b) / (1 - b), abs=1e-6)  # bert-score's raw 0 for an empty report


def test_radcliq_bertscore_loads_a_roberta_and_weighs_by_idf(tmp_path: Path) -> None:
    pytest.importorskip("bert_score")
    from bert_score import BERTScorer

    root = tmp_path / "models"
    folder = tiny.distilroberta(root / "distilroberta-base")
    candidates, references = (
        ["no effusion .", "the heart is enlarged ."],
        ["small effusion .", "heart size is normal ."],
    )
    ours = bs.bertscore(bs.RADCLIQ, candidates, references, ModelPaths(root))
    plain = BERTScorer(model_type=str(folder), num_layers=5, idf=True, idf_sents=references, lang="en")
    raw = plain.score(candidates, references)[2].tolist()
    b = _baseline_f(bs.RADCLIQ)
    assert ours == pytest.approx([(f - b) / (1 - b) for f in raw], abs=1e-6)


def test_weights_that_do_not_fit_are_refused_naming_the_keys(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    root = tmp_path / "models"
    folder = tiny.distilbert(root / "distilbert-base-uncased")
    state = load_file(folder / "model.safetensors")
    del state["transformer.layer.1.ffn.lin1.weight"]
    save_file(state, folder / "model.safetensors")
    with pytest.raises(MtlbenchError, match=r"1 missing keys \['transformer.layer.1.ffn.lin1.weight'\]") as err:
        bs.bertscore(bs.RADEVAL, ["a"], ["b"], ModelPaths(root))
    assert "\n" not in str(err.value)


def test_missing_weights_say_what_to_put_where(tmp_path: Path) -> None:
    pytest.importorskip("bert_score")
    problem = bs.missing(bs.RADCLIQ, ModelPaths(tmp_path))
    assert problem and "distilroberta-base/config.json" in problem and "$MTLBENCH_MODELS/distilroberta-base/" in problem
    with pytest.raises(MtlbenchError, match="cannot run radgraph: RadGraph"):
        _eval(tmp_path, ["--metrics", "bleu,radgraph", "--models-dir", str(tmp_path)], check=False)


def test_sembscore_is_the_cosine_of_chexbert_cls_embeddings(tmp_path: Path) -> None:
    from mtlbench.metrics import chexbert

    _tiny_chexbert(tmp_path / "models")
    paths = ModelPaths(tmp_path / "models")
    result = evaluate(["1", "2"], ["no effusion .", "heart is enlarged ."], ["no effusion .", "no effusion ."],
                      config=EvalConfig(), metrics=["semb"], paths=paths)  # fmt: skip
    model = chexbert.load(paths)
    ids = torch.tensor([model.encode(["heart is enlarged ."])[0]])
    a = model.model.bert(ids)[0][0, 0]
    ids = torch.tensor([model.encode(["no effusion ."])[0]])
    b = model.model.bert(ids)[0][0, 0]
    expected = float(torch.dot(a, b) / (a.norm() * b.norm()))
    semb = [row["stats"]["semb"] for row in result.per_example]
    assert semb == pytest.approx([1.0, expected], abs=1e-5) and result.corpus["SembScore"] == pytest.approx(
        (1 + expected) / 2, abs=1e-5
    )


# --- RadGraph -------------------------------------------------------------------------------

GENERATED = {
    "entities": {
        "1": {"tokens": "effusion", "label": "Observation::definitely present", "relations": [["located_at", "2"]]},
        "2": {"tokens": "left", "label": "Anatomy::definitely present", "relations": []},
        "3": {"tokens": "pneumothorax", "label": "Observation::definitely absent", "relations": []},
    }
}
REFERENCE = {
    "entities": {
        "1": {"tokens": "effusion", "label": "Observation::definitely present", "relations": [["located_at", "2"]]},
        "2": {"tokens": "right", "label": "Anatomy::definitely present", "relations": []},
        "3": {"tokens": "pneumothorax", "label": "Observation::definitely absent", "relations": []},
        "4": {"tokens": "heart", "label": "Anatomy::definitely present", "relations": []},
    }
}


def test_f1radgraph_partial_and_complete_on_a_small_annotated_pair() -> None:
    # simple: generated {effusion, left, pneumothorax}, reference {effusion, right, pneumothorax, heart}:
    #   2 shared, P 2/3, R 2/4, F1 = 2 * (2/3)(1/2) / (2/3 + 1/2) = 4/7
    # partial: effusion carries "True" on both sides (it has a relation): the same 2 shared -> 4/7
    # complete: generated {(effusion, located_at, left), left, pneumothorax},
    #   reference {(effusion, located_at, right), right, pneumothorax, heart}: 1 shared, P 1/3, R 1/4 -> 2/7
    assert radgraph.f1radgraph(GENERATED, REFERENCE) == pytest.approx((4 / 7, 4 / 7, 2 / 7))
    # RadCliQ's combined: entities 4/7; relations {(effusion->left)} vs {(effusion->right)}: 0 -> 2/7
    assert radgraph.radgraph_combined(GENERATED, REFERENCE) == pytest.approx(2 / 7)
    assert radgraph.f1radgraph({"entities": {}}, REFERENCE) == (0.0, 0.0, 0.0)


def test_f1radgraph_equals_the_radgraph_packages_own_rewards() -> None:
    rewards = pytest.importorskip("radgraph.rewards")
    rng = np.random.default_rng(0)
    labels = ["Observation::definitely present", "Anatomy::definitely present", "Observation::uncertain"]
    words = ["effusion", "Left", "lung", "base", "heart", "opacity"]

    def random_annotation() -> dict:
        n = int(rng.integers(0, 6))
        entities = {}
        for i in range(1, n + 1):
            targets = [str(t) for t in rng.choice(np.arange(1, n + 1), size=int(rng.integers(0, 3)))]
            relation = [[str(rng.choice(["modify", "located_at"])), t] for t in targets]
            entities[str(i)] = {
                "tokens": str(rng.choice(words)),
                "label": str(rng.choice(labels)),
                "relations": relation,
            }
        return {"entities": entities}

    for _ in range(300):
        g, r = random_annotation(), random_annotation()
        assert radgraph.f1radgraph(g, r) == pytest.approx(rewards.compute_reward(g, r, "all"))


@pytest.mark.slow
def test_radgraph_loads_a_tiny_dygie_model_from_the_models_folder(tmp_path: Path) -> None:
    pytest.importorskip("radgraph")
    root = tmp_path / "models"
    tiny.radgraph_model(root, "radgraph-xl")
    paths = ModelPaths(root)
    assert radgraph.missing("radgraph-xl", paths) is None
    annotator = radgraph.RadGraphAnnotator("radgraph-xl", paths)
    generated, reference = ["no effusion .", ""], ["small effusion .", "no effusion ."]
    ours = evaluate(["1", "2"], generated, reference, config=EvalConfig(), metrics=["radgraph"], paths=paths)
    annotations = annotator.annotate(generated + reference)
    assert annotations[1] == {"entities": {}} and all("entities" in a for a in annotations)
    expected = radgraph.f1radgraph(annotations[0], annotations[2])
    assert ours.per_example[0]["stats"]["radgraph"] == pytest.approx(list(expected))
    assert ours.per_example[1]["stats"]["radgraph"] == [0.0, 0.0, 0.0]
    weights = root / "radgraph-xl" / "weights.th"
    state = torch.load(weights, weights_only=True)
    state.pop(next(iter(state)))
    torch.save(state, weights)
    with pytest.raises(MtlbenchError, match=r"weights.th does not fit its config.json") as err:
        radgraph.RadGraphAnnotator("radgraph-xl", paths)
    assert "\n" not in str(err.value)


def test_radcliq_v1_from_given_components() -> None:
    # at the scaler's mean every standardised input is 0: the score is the intercept
    assert radcliq.radcliq_v1(radcliq.MEAN[None])[0] == pytest.approx(2.4665525613232559e-10, abs=1e-18)
    # one standard deviation above the mean on every input: the sum of the four coefficients plus the intercept
    one_up = radcliq.radcliq_v1((radcliq.MEAN + radcliq.SCALE)[None])[0]
    assert one_up == pytest.approx(-0.37708368261038905 - 0.37030009974480316 - 0.25261621789593225 + 4.3150484e-12)
    # a perfect report (RadGraph 1, BERTScore 1, SembScore 1, BLEU-2 1), by hand:
    perfect = sum(c * (1 - m) / s for c, m, s in zip(radcliq.COEFFICIENTS[:4], radcliq.MEAN, radcliq.SCALE))
    assert radcliq.radcliq_v1(np.ones((1, 4)))[0] == pytest.approx(perfect + radcliq.COEFFICIENTS[4])
    assert perfect == pytest.approx(-0.5754 - 0.6313 - 0.2340, abs=1e-3)  # -0.37708 * 0.46208 / 0.30283, ...


# --- the command line ---------------------------------------------------------------------


def _tiny_chexbert(root: Path) -> tuple[Path, Path]:
    from transformers import BertConfig

    from mtlbench.metrics.chexbert import build_model

    bert = root / "bert-base-uncased"
    bert.mkdir(parents=True)
    words = tiny.SPECIAL + tiny.WORDS
    (bert / "vocab.txt").write_text("\n".join(words) + "\n")
    config = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32)  # fmt: skip
    (bert / "config.json").write_text(json.dumps(config.to_dict()))
    torch.manual_seed(0)
    torch.save({"model_state_dict": build_model(config).state_dict()}, root / "chexbert.pth")
    return root / "chexbert.pth", bert


def _eval(tmp_path: Path, args: list[str], *, check: bool = True) -> str:
    preds = {"1": ["no effusion ."], "2": ["the heart is enlarged ."], "3": [""]}
    refs = {"1": ["small effusion ."], "2": ["heart size is normal ."], "3": ["no pneumothorax ."]}
    (tmp_path / "p.json").write_text(json.dumps(preds))
    (tmp_path / "r.json").write_text(json.dumps(refs))
    base = ["eval", "--preds", str(tmp_path / "p.json"), "--refs", str(tmp_path / "r.json"), "--no-meteor"]
    result = CliRunner().invoke(cli, [*base, *args])
    if check:
        assert result.exit_code == 0, result.output
    elif result.exit_code:
        raise MtlbenchError(result.output.strip().splitlines()[-1])
    return result.output


def test_eval_runs_every_available_metric_and_writes_per_example_scores(tmp_path: Path) -> None:
    pytest.importorskip("bert_score")
    root = tmp_path / "models"
    tiny.distilbert(root / "distilbert-base-uncased")
    tiny.distilroberta(root / "distilroberta-base")
    _tiny_chexbert(root)
    out = tmp_path / "rows.jsonl"
    output = _eval(tmp_path, ["--models-dir", str(root), "--per-example", str(out)])
    for key in ("BLEU_4", "CE_F1_micro", "BERTScore ", "BERTScore_RadCliQ", "SembScore"):
        assert key in output
    assert "not run: radgraph: RadGraph (radgraph-xl): missing" in output and "not run: meteor: --no-meteor" in output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"bertscore", "bertscore_radcliq", "semb", "bleu"} <= set(rows[0]["stats"])
    chosen = _eval(tmp_path, ["--models-dir", str(root), "--metrics", "bleu,semb", "--per-sample", str(out)])
    assert "SembScore" in chosen and "BERTScore" not in chosen and "CE_F1" not in chosen
    assert set(json.loads(out.read_text().splitlines()[0])["stats"]) == {"bleu", "semb"}


def test_list_metrics_says_which_run_and_why_the_others_do_not(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MTLBENCH_MODELS", str(tmp_path))
    monkeypatch.delenv("MTLBENCH_CHEXBERT", raising=False)
    output = CliRunner().invoke(cli, ["list", "metrics"]).output
    assert "bertscore  -  BERTScore F1 as RadEval computes it" in output
    assert f"not available here: BERTScore (RadEval): missing {tmp_path}/distilbert-base-uncased/config.json" in output
    assert "radcliq  -  RadCliQ-v1" in output and "never downloaded" in output
