"""The chexbert labeler's whole loading path, on a tiny BERT the test builds (no downloads)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from mtlbench.errors import MtlbenchError
from mtlbench.metrics import LABELERS
from mtlbench.metrics.chexbert import CheXbertLabeler, CheXbertModel

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "no", "effusion", "heart", "is", "enlarged", "."]


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    from transformers import BertConfig

    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    config = BertConfig(
        vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    (bert / "config.json").write_text(json.dumps(config.to_dict()))
    torch.manual_seed(0)
    model = CheXbertModel(config)
    # the released checkpoint was saved from nn.DataParallel: keys carry "module."
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"model_state_dict": state, "epoch": 7}, tmp_path / "chexbert.pth")
    return tmp_path / "chexbert.pth", bert


def test_tiny_checkpoint_loads_and_labels_in_batches(tiny: tuple[Path, Path]) -> None:
    checkpoint, bert = tiny
    labeler = CheXbertLabeler(checkpoint, bert, batch_size=2)
    reports = ["no effusion .", "heart is enlarged .", "", "heart ."]
    codes = labeler.label(reports)
    assert len(codes) == 4 and all(len(row) == 14 for row in codes)
    assert all(math.isnan(c) or c in (1.0, 0.0, -1.0) for row in codes for c in row)
    assert all(row[13] in (1.0,) or math.isnan(row[13]) for row in codes)  # No Finding head: blank or positive
    # batching does not change the answer
    assert CheXbertLabeler(checkpoint, bert, batch_size=3).label(reports) == codes


def test_registered_and_configured_through_environment(
    tiny: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint, bert = tiny
    monkeypatch.setenv("MTLBENCH_CHEXBERT", str(checkpoint))
    monkeypatch.setenv("MTLBENCH_BERT", str(bert))
    labeler = LABELERS.get("chexbert").from_config(None)
    assert labeler.label(["no effusion ."])[0] == CheXbertLabeler(checkpoint, bert).label(["no effusion ."])[0]


def test_a_checkpoint_with_wrong_keys_is_refused_naming_them(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint, bert = tiny
    payload = torch.load(checkpoint, weights_only=False)
    payload["model_state_dict"].pop("module.linear_heads.3.weight")
    payload["model_state_dict"]["module.extra.weight"] = torch.zeros(1)
    torch.save(payload, tmp_path / "bad.pth")
    with pytest.raises(
        MtlbenchError, match=r"1 missing keys \['linear_heads.3.weight'\], 1 unexpected keys \['extra.weight'\]"
    ):
        CheXbertLabeler(tmp_path / "bad.pth", bert)


def test_missing_files_are_named_with_where_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(MtlbenchError) as err:
        CheXbertLabeler(tmp_path / "chexbert.pth", tmp_path)
    message = str(err.value)
    assert "chexbert.pth" in message and "vocab.txt" in message and "RRG_scorers" in message
