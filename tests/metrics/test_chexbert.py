"""The chexbert labeler's whole loading path, on a tiny BERT the test builds (no downloads)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mtlbench.cli import cli
from mtlbench.data.schema import CHEXPERT_LABELS
from mtlbench.errors import MtlbenchError
from mtlbench.metrics import LABELERS
from mtlbench.metrics.chexbert import CheXbertLabeler, _f1chexbert, build_model

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "no", "effusion", "heart", "is", "enlarged", "."]


def _config() -> object:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    """A CheXbert-shaped checkpoint saved as the release is: nn.DataParallel keys, in model_state_dict."""
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    config = _config()
    (bert / "config.json").write_text(json.dumps(config.to_dict()))
    torch.manual_seed(0)
    model = build_model(config)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    state["module.bert.embeddings.position_ids"] = torch.arange(512)[None]  # older transformers saved it
    torch.save({"model_state_dict": state, "epoch": 7}, tmp_path / "chexbert.pth")
    return tmp_path / "chexbert.pth", bert


def test_the_model_is_f1chexberts_bert_labeler() -> None:
    model = build_model(_config())
    assert isinstance(model, _f1chexbert().bert_labeler)
    assert [h.out_features for h in model.linear_heads] == [4] * 13 + [2]


def test_importing_f1chexbert_does_not_silence_warnings() -> None:
    _f1chexbert.cache_clear()
    before = list(warnings.filters)
    _f1chexbert()
    assert warnings.filters == before


def test_known_heads_give_known_codes_in_chexbert_order(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    """Heads whose bias alone decides: class 1 positive, 2 negative, 3 uncertain, 0 blank."""
    checkpoint, bert = tiny
    payload = torch.load(checkpoint, weights_only=True)
    state = payload["model_state_dict"]
    wanted = [1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 1]  # 13 four-way heads, then No Finding (two-way)
    for head, cls in enumerate(wanted):
        state[f"module.linear_heads.{head}.weight"].zero_()
        state[f"module.linear_heads.{head}.bias"].copy_(
            torch.nn.functional.one_hot(torch.tensor(cls), 4 if head < 13 else 2) * 5.0
        )
    torch.save(payload, tmp_path / "fixed.pth")
    codes = CheXbertLabeler(tmp_path / "fixed.pth", bert, device="cpu").label(["no effusion .", ""])
    expected = [{0: math.nan, 1: 1.0, 2: 0.0, 3: -1.0}[c] for c in wanted]
    for row in codes:
        assert len(row) == len(CHEXPERT_LABELS)
        assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(row, expected))


def test_batched_labels_equal_one_report_at_a_time_as_f1chexbert_runs(tiny: tuple[Path, Path]) -> None:
    checkpoint, bert = tiny
    labeler = CheXbertLabeler(checkpoint, bert, device="cpu", batch_size=3)
    reports = ["no effusion .", "heart is enlarged .", "", "heart .", "  no\n effusion  heart is enlarged . " * 3]
    batched = labeler.label(reports)
    assert labeler.encode([""]) == [[2, 3]]  # an empty report is [CLS] [SEP], as CheXbert encodes it
    with torch.no_grad():
        for report, row in zip(reports, batched):
            ids = torch.tensor(labeler.encode([report]))
            heads = labeler.model(ids, torch.ones_like(ids, dtype=torch.float))
            single = tuple({0: math.nan, 1: 1.0, 2: 0.0, 3: -1.0}[int(h.argmax())] for h in heads)
            assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(row, single))


def test_long_reports_are_cut_to_512_tokens_keeping_sep(tiny: tuple[Path, Path]) -> None:
    checkpoint, bert = tiny
    labeler = CheXbertLabeler(checkpoint, bert, device="cpu")
    (ids,) = labeler.encode(["heart " * 700])
    assert len(ids) == 512 and ids[0] == 2 and ids[-1] == 3
    assert len(labeler.label(["heart " * 700])[0]) == 14


def test_registered_and_configured_through_environment(
    tiny: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint, bert = tiny
    monkeypatch.setenv("MTLBENCH_CHEXBERT", str(checkpoint))
    monkeypatch.setenv("MTLBENCH_BERT", str(bert))
    labeler = LABELERS.get("chexbert").from_config(None)
    assert labeler.cache_key.startswith("chexbert-")
    assert labeler.label(["no effusion ."]) == CheXbertLabeler(checkpoint, bert).label(["no effusion ."])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("module.linear_heads.3.weight"), r"1 missing keys \['linear_heads.3.weight'\]"),
        (lambda s: s.__setitem__("module.extra.weight", torch.zeros(1)), r"1 unexpected keys \['extra.weight'\]"),
        (
            lambda s: s.__setitem__("module.linear_heads.0.bias", torch.zeros(3)),
            r"1 keys of another shape \['linear_heads.0.bias'\]",
        ),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_keys(
    tiny: tuple[Path, Path], tmp_path: Path, edit: object, message: str
) -> None:
    checkpoint, bert = tiny
    payload = torch.load(checkpoint, weights_only=True)
    edit(payload["model_state_dict"])  # type: ignore[operator]
    torch.save(payload, tmp_path / "bad.pth")
    with pytest.raises(MtlbenchError, match=message) as err:
        CheXbertLabeler(tmp_path / "bad.pth", bert)
    assert "\n" not in str(err.value)


def test_missing_files_are_named_with_where_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MtlbenchError) as err:
        CheXbertLabeler(tmp_path / "chexbert.pth", tmp_path)
    message = str(err.value)
    assert "chexbert.pth" in message and "vocab.txt" in message and "config.json" in message
    assert "RRG_scorers" in message and "bert-base-uncased" in message
    monkeypatch.delenv("MTLBENCH_CHEXBERT", raising=False)
    monkeypatch.delenv("MTLBENCH_MODELS", raising=False)
    with pytest.raises(
        MtlbenchError, match=r"no CheXbert files configured \(\$MTLBENCH_CHEXBERT and \$MTLBENCH_BERT unset\)"
    ):
        LABELERS.get("chexbert").from_config(None)


def test_eval_command_scores_with_chexbert_from_local_files(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint, bert = tiny
    (tmp_path / "p.json").write_text(json.dumps({"1": ["heart is enlarged ."], "2": ["no effusion ."]}))
    (tmp_path / "r.json").write_text(json.dumps({"1": ["heart is enlarged ."], "2": ["no effusion ."]}))
    args = ["eval", "--preds", str(tmp_path / "p.json"), "--refs", str(tmp_path / "r.json"), "--no-meteor"]
    result = CliRunner().invoke(
        cli, [*args, "--labeler", "chexbert", "--chexbert-checkpoint", str(checkpoint), "--bert-dir", str(bert)]
    )
    assert result.exit_code == 0, result.output
    assert "CE labeler: CheXbert" in result.output and "uncertain counted as positive" in result.output
    lonely = CliRunner().invoke(cli, [*args, "--chexbert-checkpoint", str(checkpoint)])
    assert lonely.exit_code != 0 and "go together" in lonely.output
