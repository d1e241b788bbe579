"""One normalisation before every metric, and a METEOR bridge that never falls out of step."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtlbench.cli import cli
from mtlbench.errors import MtlbenchError
from mtlbench.metrics import evaluate
from mtlbench.metrics import meteor as meteor_module
from mtlbench.metrics.config import EvalConfig
from mtlbench.metrics.meteor import meteor
from mtlbench.metrics.text import MAX_CHARS, MAX_WORDS, clean_text, cut, normalise


def test_clean_one_line_texts_pass_unchanged_so_pycocoevalcap_figures_stay() -> None:
    for text in ("no acute disease  .", " leading and trailing ", "the heart is normal . | x ||", "café ü"):
        assert clean_text(text) == text


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("disease  .\n\npersistent", "disease  . persistent"),
        ("a\r\nb\tc\u2028d\xa0e\x85f", "a b c d e f"),
        ("a\x00b\x1b[31mc\u200bd\ufeffe\ud800f", "ab[31mcdef"),
        ("ref ||| second", "ref   second"),
        ("a|||||b ||||", "a ||b  |"),
        ("|\x00||", " "),
    ],
)
def test_whitespace_control_characters_and_meteor_separators(text: str, cleaned: str) -> None:
    assert clean_text(text) == cleaned
    assert clean_text(cleaned) == cleaned  # idempotent


def test_length_limits_cut_at_a_word_and_are_reported() -> None:
    text = " ".join(f"w{i}" for i in range(MAX_WORDS + 5))
    assert cut(text).split() == [f"w{i}" for i in range(MAX_WORDS)]
    assert len(cut("x" * (MAX_CHARS + 10))) == MAX_CHARS
    result = normalise(["fine .", text, " \n\t", ""])
    assert result.cut == [1] and result.empty == [2, 3]


def _write(tmp_path: Path, preds: list[str], refs: list[str]) -> list[str]:
    (tmp_path / "p.json").write_text(json.dumps({str(i): [t] for i, t in enumerate(preds)}))
    (tmp_path / "r.json").write_text(json.dumps({str(i): [t] for i, t in enumerate(refs)}))
    return ["eval", "--preds", str(tmp_path / "p.json"), "--refs", str(tmp_path / "r.json")]


def test_three_examples_with_a_blank_line_are_scored_in_step(tmp_path: Path) -> None:
    """The reproduction of issue 17: one newline used to shift every later METEOR answer."""
    preds = ["the heart is normal .", "no acute disease .\n\nstable cardiomegaly .", "small left effusion ."]
    refs = ["heart size is normal .", "stable cardiomegaly . no acute disease .", "no pleural effusion ."]
    result = evaluate([str(i) for i in range(3)], preds, refs, config=EvalConfig(), clinical=False)
    alone = [meteor([p.replace("\n\n", " ")], [r])[1][0] for p, r in zip(preds, refs)]
    assert [row["stats"]["meteor"] for row in result.per_example] == alone
    assert result.per_example[1]["generated"] == "no acute disease . stable cardiomegaly ."
    command = CliRunner().invoke(cli, _write(tmp_path, preds, refs))
    assert command.exit_code == 0, command.output
    assert "3 examples, 0 with an empty prediction" in command.output and "METEOR" in command.output


def test_separators_in_references_do_not_make_second_references() -> None:
    _, split, _ = meteor(["pleural effusion ."], ["small ||| pleural effusion ."])
    _, joined, _ = meteor(["pleural effusion ."], ["small pleural effusion ."])
    assert split == joined


def test_an_oversized_prediction_is_cut_before_java_sees_it() -> None:
    runaway = " ".join(["effusion", "is", "seen"] * 70_000)  # 210,000 words
    result = evaluate(["a", "b"], [runaway, "no effusion ."], ["no effusion .", "no effusion ."], config=EvalConfig())
    assert result.flagged["cut_predictions"] == ["a"] and result.text_counts["cut_predictions"] == 1
    assert len(result.per_example[0]["generated"].split()) == MAX_WORDS
    assert result.per_example[0]["stats"]["meteor"] == meteor([cut(runaway)], ["no effusion ."])[1][0]
    assert any(f"longer than the limit of {MAX_WORDS} words" in line for line in result.warnings())


def test_empty_predictions_are_counted_in_the_output_and_the_record(tmp_path: Path) -> None:
    refs = ["the heart is enlarged .", "no acute disease .", "small left effusion ."]
    command = CliRunner().invoke(cli, [*_write(tmp_path, ["", "  ", "\n"], refs), "--no-meteor"])
    assert command.exit_code == 0, command.output
    assert "3 examples, 3 with an empty prediction" in command.output
    assert "warning: 3 of 3 predictions are empty (ids 0, 1, 2): they score 0 on the NLG metrics and the labeler " \
           "reads an empty report as No Finding" in command.output  # fmt: skip
    result = evaluate(["x", "y"], ["", "fine ."], ["fine .", ""], config=EvalConfig(meteor=False))
    assert result.text_counts == {"empty_predictions": 1, "empty_references": 1, "cut_predictions": 0,
                                  "cut_references": 0}  # fmt: skip


STANDIN = """
import sys
mode = sys.argv[1]
for line in sys.stdin:
    if "FAIL" in line and mode == "exit":
        sys.stderr.write("java.lang.OutOfMemoryError: Java heap space\\n")
        sys.exit(3)
    if "FAIL" in line and mode == "silent":
        continue
    if "FAIL" in line and mode == "garbage":
        print("Error: specify hypothesis and at least one reference", flush=True)
        continue
    if line.startswith("SCORE"):
        print(" ".join(["1.0"] * 23), flush=True)
    else:
        print("\\n".join(["0.5"] * (line.count("|||") + 1)), flush=True)
"""


@pytest.mark.parametrize("mode", ["exit", "silent", "garbage"])
def test_a_failing_meteor_process_is_named_replaced_and_never_re_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The real jar cannot be made to fail on cue (and restarts in 20-40 s), so a stand-in that
    speaks its protocol fails in each way the jar can, on the example that says FAIL: it exits,
    never answers, or answers something else. Whatever it does, the error names the example, the
    process is discarded and the next call gets a fresh one, in step."""
    script = tmp_path / "standin.py"
    script.write_text(STANDIN)
    monkeypatch.setattr(meteor_module, "_COMMAND", [sys.executable, str(script), mode])
    monkeypatch.setattr(meteor_module, "_instance", None)
    assert meteor(["a b"], ["a b"])[0] == 0.5  # started and answering
    monkeypatch.setattr(meteor_module, "ANSWER_TIMEOUT_S", 1.0)  # "silent" waits this long for nothing
    with pytest.raises(MtlbenchError, match=r"the METEOR Java process failed: .*, on example 2 of 3") as err:
        meteor(["a b", "FAIL", "e f"], ["a b", "c d", "e f"])
    message = str(err.value)
    assert "\n" not in message and "re-run" not in message and "--no-meteor" in message
    if mode == "exit":
        assert "it exited" in message and "Java said: java.lang.OutOfMemoryError: Java heap space" in message
    failed = meteor_module._instance
    assert failed is not None and failed.process.poll() is not None  # discarded
    corpus, segments, stats = meteor(["a b", "c d"], ["a b", "c d"])
    assert meteor_module._instance is not failed and (corpus, segments) == (0.5, [0.5, 0.5]) and len(stats) == 2


def test_stored_statistics_that_would_break_the_protocol_are_refused() -> None:
    with pytest.raises(MtlbenchError, match=r"METEOR statistics row 1 is not 23 finite numbers"):
        meteor_module.meteor_from_stats([[1.0] * 23, [float("nan")] * 23])
