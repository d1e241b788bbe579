"""NLG metrics: pycocoevalcap's figures on the shared sample, and exact sufficient statistics."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.meteor.meteor import Meteor

from mtlbench.cli import cli
from mtlbench.data.schema import CHEXPERT_LABELS
from mtlbench.errors import MtlbenchError
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


def _files(tmp_path: Path, preds: object, refs: object) -> list[str]:
    (tmp_path / "p.json").write_text(preds if isinstance(preds, str) else json.dumps(preds))
    (tmp_path / "r.json").write_text(refs if isinstance(refs, str) else json.dumps(refs))
    return ["eval", "--preds", str(tmp_path / "p.json"), "--refs", str(tmp_path / "r.json"), "--no-meteor"]


@pytest.mark.parametrize(
    ("preds", "refs", "message"),
    [
        ('{"1": ["the heart', {"1": ["x ."]}, r"p.json is not valid JSON: Unterminated string .*\(line 1, column 8\)"),
        (
            {"1": ["a ."], "2": ["b ."]},
            {"1": ["a ."], "3": ["b ."]},
            r"only in --preds \['2'\], only in --refs \['3'\]",
        ),
        ({"1": [3]}, {"1": ["a ."]}, r"the entry of id '1' is not a text"),
        ({}, {}, r"holds no texts"),
    ],
)
def test_eval_refuses_malformed_prediction_files_in_one_line(
    tmp_path: Path, preds: object, refs: object, message: str
) -> None:
    result = CliRunner().invoke(cli, _files(tmp_path, preds, refs))
    assert result.exit_code != 0
    assert re.search(message, result.output), result.output
    assert result.output.count("\n") == 1  # "Error: ..." on one line


def test_eval_accepts_lists_prints_the_policy_and_writes_per_sample_rows(tmp_path: Path) -> None:
    preds = ["mild cardiomegaly . no effusion .", "possible small left effusion ."]
    refs = ["the heart is enlarged . no effusion .", "no acute disease ."]
    out = tmp_path / "rows.jsonl"
    positive = CliRunner().invoke(cli, [*_files(tmp_path, preds, refs), "--per-sample", str(out)])
    negative = CliRunner().invoke(cli, [*_files(tmp_path, preds, refs), "--uncertain", "negative"])
    assert positive.exit_code == 0 and negative.exit_code == 0, positive.output
    assert "rule-based approximation of the CheXpert labeler" in positive.output
    assert "uncertain counted as positive" in positive.output and "uncertain counted as negative" in negative.output

    def figure(output: str, key: str) -> float:
        return float(next(line.split()[1] for line in output.splitlines() if line.startswith(key + " ")))

    # the hedged effusion is a false positive only when uncertain counts as positive
    assert figure(positive.output, "CE_P_micro") == 0.5 and figure(negative.output, "CE_P_micro") == 1.0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["0", "1"]
    assert rows[1]["labels_generated"][CHEXPERT_LABELS.index("Pleural Effusion")] == -1.0
    assert rows[0]["stats"]["bleu"]["testlen"] == 6 and "rouge_l" in rows[0]["stats"]


def test_eval_with_a_runs_vocabulary_scores_references_as_r2gen_does(tmp_path: Path) -> None:
    from mtlbench.data import Tokenizer

    tokenizer = Tokenizer.build(["The heart is normal."] * 3, style="iu_xray", threshold=3, max_seq_length=5)
    tokenizer.save(tmp_path / "vocab.json")
    preds = {"a": ["the heart is <unk> ."]}
    refs = {"a": ["The heart is enlarged. Small effusion."]}
    args = [*_files(tmp_path, preds, refs), "--vocab", str(tmp_path / "vocab.json")]
    result = CliRunner().invoke(cli, [*args, "--per-sample", str(tmp_path / "rows.jsonl")])
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert row["reference"] == "the heart is <unk>"  # cleaned, <unk>, cut to max_seq_length as R2Gen's ground truth


def test_meteor_reuses_one_java_process_and_says_when_java_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from mtlbench.metrics import meteor as meteor_module

    meteor(["a b c"], ["a b c"])
    first = meteor_module._meteor().process.pid
    meteor(["a b"], ["a c"])
    assert meteor_module._meteor().process.pid == first
    monkeypatch.setattr(meteor_module.shutil, "which", lambda name: None)
    with pytest.raises(MtlbenchError, match=r"METEOR needs Java 8\+ on PATH; install OpenJDK .* or pass --no-meteor"):
        meteor_module._Meteor()


def test_eval_refuses_latin1_and_duplicate_ids_in_one_line(tmp_path: Path) -> None:
    args = _files(tmp_path, {"1": ["a ."]}, {"1": ["a ."]})
    (tmp_path / "p.json").write_bytes('{"1": ["épanchement pleural"]}'.encode("latin-1"))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert re.search(r"p.json is not UTF-8 text \(byte 0xe9 at line 1, column 9\); mtlbench reads UTF-8", result.output)
    (tmp_path / "p.json").write_text('{"1": ["a ."], "2": ["b ."], "1": ["c ."]}')
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "p.json has the key '1' twice in one object (the object that starts at line 1, column 1)" in result.output
