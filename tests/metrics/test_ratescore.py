"""RaTEScore: why it cannot run where it cannot, the strict check of its NER model, and (where the
package imports) the whole local loading and scoring path on tiny models of its two architectures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mtlbench.errors import MtlbenchError
from mtlbench.metrics import ModelPaths, family_status
from mtlbench.metrics import ratescore as rs

FINE = {"RaTEScore": "0.6.0", "medspacy": "1.3.1", "spacy": "3.8.18", "thinc": "8.3.14", "numpy": "2.5.5"}
WORDS = ["the", "heart", "is", "enlarged", "small", "left", "effusion", "no", "pneumothorax", "clear", "lung", "."]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LABELS = ["O"] + [f"{p}-{t}" for t in rs.ENTITY_TYPES for p in "BI"]


def test_the_environment_conflict_is_named_without_importing_the_package() -> None:
    assert rs.environment_problem(FINE) is None
    old_spacy = FINE | {"spacy": "3.7.5", "thinc": "8.2.5", "numpy": "2.4.6"}
    problem = rs.environment_problem(old_spacy) or ""
    assert "spaCy 3.7.5" in problem and "numpy 2.4.6" in problem and "Python >= 3.12" in problem
    assert rs.environment_problem(old_spacy | {"numpy": "1.26.4"}) is None
    assert "mtlbench[ratescore]" in (rs.environment_problem(FINE | {"RaTEScore": None}) or "")
    assert "medspacy" in (rs.environment_problem(FINE | {"medspacy": None}) or "")
    assert "ratescore" in family_status(ModelPaths())


def test_missing_weights_are_named_with_where_to_get_them(tmp_path: Path) -> None:
    problem = rs.missing(ModelPaths(root=tmp_path), versions=FINE) or ""
    assert "RaTE-NER-Deberta" in problem and "Angelakeke/RaTE-NER-Deberta" in problem and "MTLBENCH_MODELS" in problem
    _ner(tmp_path / rs.NER_MODEL)
    problem = rs.missing(ModelPaths(root=tmp_path), versions=FINE) or ""
    assert "BioLORD-2023-C" in problem and "FremyCompany/BioLORD-2023-C" in problem
    _encoder(tmp_path / rs.ENCODER_MODEL)
    assert rs.missing(ModelPaths(root=tmp_path), versions=FINE) is None


def _vocabulary(folder: Path, special: list[str], tokenizer: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(special + WORDS) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": tokenizer, "model_max_length": 512}))


def _ner(folder: Path, *, labels: list[str] = LABELS, tag: str | None = None) -> Path:
    """A one-layer DeBERTa-v2 token classifier (RaTE-NER's architecture); ``tag`` forces every token's label."""
    from transformers import DebertaV2Config, DebertaV2ForTokenClassification

    _vocabulary(folder, SPECIAL, "BertTokenizer")
    config = DebertaV2Config(
        vocab_size=len(SPECIAL) + len(WORDS),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(0)
    model = DebertaV2ForTokenClassification(config)
    if tag is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.zero_()
            model.classifier.bias[labels.index(tag)] = 10.0
    model.save_pretrained(folder)
    return folder


def _encoder(folder: Path) -> Path:
    """A one-layer MPNet (BioLORD-2023-C's architecture)."""
    from transformers import MPNetConfig, MPNetModel

    _vocabulary(folder, ["<s>", "<pad>", "</s>", "<unk>", "[UNK]", "<mask>"], "MPNetTokenizer")
    torch.manual_seed(1)
    config = MPNetConfig(
        vocab_size=6 + len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    MPNetModel(config).save_pretrained(folder)
    return folder


def test_the_ner_model_is_checked_key_by_key_and_by_its_labels(tmp_path: Path) -> None:
    rs.check_ner_model(_ner(tmp_path / "good"))
    with pytest.raises(MtlbenchError, match="not RaTE-NER's IOB tags"):
        rs.check_ner_model(_ner(tmp_path / "other", labels=["O", "B-PER", "I-PER"]))
    folder = _ner(tmp_path / "short")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"num_hidden_layers": 2}))
    with pytest.raises(MtlbenchError, match="do not fit"):
        rs.check_ner_model(folder)


@pytest.mark.skipif(
    rs.environment_problem(rs.installed_versions()) is not None,
    reason=f"RaTEScore cannot be imported here: {rs.environment_problem(rs.installed_versions())}",
)
def test_ratescore_scores_aligned_pairs_from_local_tiny_models(tmp_path: Path) -> None:
    """Every token tagged ABNORMALITY: a report against itself scores 1 (each entity matches itself);
    an empty report scores 0.5 without shifting the pairs after it (the package alone would)."""
    _ner(tmp_path / rs.NER_MODEL, tag="B-ABNORMALITY")
    _encoder(tmp_path / rs.ENCODER_MODEL)
    paths = ModelPaths(root=tmp_path)
    same = "the heart is enlarged . small left effusion ."
    scores = rs.ratescore(
        [same, "", "no pneumothorax .", "clear lung ."], [same, "clear lung .", "no effusion .", ""], paths
    )
    assert scores[0] == pytest.approx(1.0) and scores[1] == rs.NO_ENTITY and scores[3] == rs.NO_ENTITY
    assert 0.0 < scores[2] < 1.0
    (alone,) = rs.ratescore(["no pneumothorax ."], ["no effusion ."], paths)
    assert scores[2] == pytest.approx(alone)
