"""Tiny models of the real architectures, saved the way the hub ships them, for the loading tests.

Nothing is downloaded: each builder writes config.json, a tokenizer vocabulary and weights into a
folder named as the metric expects it under ``$MTLBENCH_MODELS``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

WORDS = [
    "a",
    "b",
    "1",
    "2",
    "no",
    "small",
    "effusion",
    "heart",
    "is",
    "enlarged",
    "normal",
    "pneumothorax",
    "the",
    "size",
    ".",
]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def distilbert(folder: Path, *, layers: int = 6, seed: int = 0) -> Path:
    """A DistilBERT (RadEval's BERTScore model) with a WordPiece vocabulary of whole words."""
    from transformers import DistilBertConfig, DistilBertModel

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(SPECIAL + WORDS) + "\n")
    config = DistilBertConfig(
        vocab_size=len(SPECIAL) + len(WORDS),
        dim=8,
        n_layers=layers,
        n_heads=2,
        hidden_dim=16,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    DistilBertModel(config).save_pretrained(folder)
    return folder


def toy_embedding_distilbert(folder: Path, vectors: dict[str, list[float]]) -> Path:
    """A DistilBERT whose every layer passes its input through, so a word's output is its vector.

    Attention and feed-forward outputs are zero and position embeddings are zero, so each layer is
    LayerNorm(x + 0); the given vectors have mean 0 and variance 1, which LayerNorm leaves as they
    are. BERTScore on such a model is hand-computable from the vectors' cosines.
    """
    from transformers import DistilBertModel

    distilbert(folder)
    model = DistilBertModel.from_pretrained(folder)
    vocab = (folder / "vocab.txt").read_text().split()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "out_lin" in name or "lin2" in name or "position_embeddings" in name:
                parameter.zero_()
        for word, vector in vectors.items():
            values = torch.tensor(vector)
            assert abs(float(values.mean())) < 1e-6 and math.isclose(
                float(values.var(unbiased=False)), 1.0, rel_tol=1e-6
            )
            model.embeddings.word_embeddings.weight[vocab.index(word)] = values
    model.save_pretrained(folder)
    return folder


def distilroberta(folder: Path, *, seed: int = 0) -> Path:
    """A RoBERTa (RadCliQ's distilroberta-base architecture) with a byte-level BPE of single characters."""
    from transformers import RobertaConfig, RobertaModel

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    chars = sorted({c for word in WORDS for c in word} | {"Ġ"})
    vocab = {token: i for i, token in enumerate(specials + chars)}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    config = RobertaConfig(
        vocab_size=len(vocab),
        hidden_size=8,
        num_hidden_layers=6,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=80,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    torch.manual_seed(seed)
    RobertaModel(config).save_pretrained(folder)
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 64}))
    return folder


def radgraph_model(root: Path, model_type: str) -> Path:
    """A tiny DyGIE++ RadGraph model laid out as radgraph.tar.gz unpacks, with its BERT in ``root``.

    The model is built by the radgraph package's own classes from the config written here, and its
    state dict saved as weights.th, which the package loads back with strict=True.
    """
    from transformers import BertConfig, BertModel

    bert = root / "tiny" / "pubmedbert"
    bert.mkdir(parents=True)
    words = SPECIAL + WORDS
    (bert / "vocab.txt").write_text("\n".join(words) + "\n")
    (bert / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512, "do_lower_case": True}))
    BertModel(
        BertConfig(
            vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
        )
    ).save_pretrained(bert)
    folder = root / model_type
    vocabulary = folder / "vocabulary"
    vocabulary.mkdir(parents=True)
    (vocabulary / "non_padded_namespaces.txt").write_text("*tags\n*labels\n")
    entity_labels = [
        "",
        "Anatomy::definitely present",
        "Observation::definitely present",
        "Observation::definitely absent",
    ]
    (vocabulary / f"{model_type}__ner_labels.txt").write_text("\n".join(entity_labels) + "\n")
    (vocabulary / f"{model_type}__relation_labels.txt").write_text("\n".join(["", "modify", "located_at"]) + "\n")
    bert_entry = {"type": "pretrained_transformer_mismatched", "model_name": "tiny/pubmedbert", "max_length": 512}
    config = {
        "dataset_reader": {"type": "dygie", "max_span_width": 4, "token_indexers": {"bert": dict(bert_entry)}},
        "model": {
            "type": "dygie",
            "embedder": {"token_embedders": {"bert": dict(bert_entry)}},
            "feature_size": 4,
            "max_span_width": 4,
            "target_task": "relation",
            "feedforward_params": {"num_layers": 2, "hidden_dims": 12, "dropout": 0.4},
            "loss_weights": {"ner": 1.0, "relation": 1.0, "coref": 0.0, "events": 0.0},
            "initializer": {},
            "module_initializer": {},
            "modules": {
                "coref": {"spans_per_word": 0.3, "max_antecedents": 10, "coref_prop": 0},
                "ner": {},
                "relation": {"spans_per_word": 0.5, "positive_label_weight": 1.0},
                "events": {
                    "trigger_spans_per_word": 0.3,
                    "argument_spans_per_word": 0.8,
                    "loss_weights": {"trigger": 1.0, "arguments": 0.5},
                },
            },
        },
    }
    (folder / "config.json").write_text(json.dumps(config))
    from radgraph.allennlp.data import Vocabulary
    from radgraph.allennlp.modules import text_field_embedders, token_embedders
    from radgraph.dygie.models import dygie

    from mtlbench.metrics.radgraph import _tokenizer_adapter

    with _tokenizer_adapter():
        embedder = token_embedders.PretrainedTransformerMismatchedEmbedder(model_name=str(bert), max_length=512)
    model_config = {
        k: v for k, v in config["model"].items() if k not in ("type", "embedder", "initializer", "module_initializer")
    }
    torch.manual_seed(0)
    model = dygie.DyGIE(
        vocab=Vocabulary.from_files(str(vocabulary), None, None),
        embedder=text_field_embedders.BasicTextFieldEmbedder({"bert": embedder}),
        **model_config,
    )
    torch.save(model.state_dict(), folder / "weights.th")
    return folder
