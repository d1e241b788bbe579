"""``chexbert``: the CheXbert labeler (Smit et al., 2020) from local files, no downloads.

The model is f1chexbert's ``bert_labeler`` layout (a BERT encoder, 13 four-way heads: blank,
positive, negative, uncertain; one two-way head for No Finding), rebuilt here from a local
BERT config because f1chexbert's constructor fetches ``bert-base-uncased`` from the hub. The
weights come from ``chexbert.pth`` (the StanfordAIMI/RRG_scorers hub repository, or the
CheXbert release), and EVERY key must match: a checkpoint that does not fit the model is an
error naming the keys, never a silent ``strict=False`` (the only tolerated extra is BERT's
``position_ids`` buffer, which older checkpoints store and newer transformers recompute).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from mtlbench.errors import MtlbenchError

CHECKPOINT_ENV = "MTLBENCH_CHEXBERT"
BERT_ENV = "MTLBENCH_BERT"
_WHERE = (
    "get chexbert.pth from the StanfordAIMI/RRG_scorers repository on the Hugging Face hub (or the CheXbert "
    f"release) and bert-base-uncased's config.json + vocab.txt, then point ${CHECKPOINT_ENV} and ${BERT_ENV} at them"
)
_CODES = {0: math.nan, 1: 1.0, 2: 0.0, 3: -1.0}
_IGNORED = ("bert.embeddings.position_ids",)


class CheXbertModel(nn.Module):
    """f1chexbert's ``bert_labeler``: same modules, same parameter names, built from a config."""

    def __init__(self, config: object) -> None:
        super().__init__()
        from transformers import BertModel

        self.bert = BertModel(config, add_pooling_layer=True)
        hidden = self.bert.config.hidden_size
        self.dropout = nn.Dropout(0.1)
        self.linear_heads = nn.ModuleList([nn.Linear(hidden, 4) for _ in range(13)] + [nn.Linear(hidden, 2)])

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        cls = self.dropout(self.bert(ids, attention_mask=mask)[0][:, 0, :])
        return [head(cls) for head in self.linear_heads]


def load_checkpoint(model: nn.Module, path: Path) -> None:
    """Load ``path`` into ``model``, requiring every key to match (``module.`` prefixes removed)."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    state = payload.get("model_state_dict", payload) if isinstance(payload, dict) else payload
    state = {k.removeprefix("module."): v for k, v in state.items() if k.removeprefix("module.") not in _IGNORED}
    expected = {k for k in model.state_dict() if k not in _IGNORED}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise MtlbenchError(
            f"{path} does not fit the CheXbert model: {len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:3]}; is it CheXbert's chexbert.pth?"
        )
    model.load_state_dict(state, strict=False)  # strictness checked above, minus the ignored buffer


class CheXbertLabeler:
    """Labels reports with CheXbert, batched."""

    description = "CheXbert (Smit et al. 2020) labeler"

    def __init__(self, checkpoint: Path, bert_dir: Path, *, device: str = "cpu", batch_size: int = 32) -> None:
        from transformers import BertConfig, BertTokenizer

        missing = [str(p) for p in (checkpoint, bert_dir / "config.json", bert_dir / "vocab.txt") if not p.is_file()]
        if missing:
            raise MtlbenchError(f"chexbert labeler: missing {', '.join(missing)}; {_WHERE}")
        self.tokenizer = BertTokenizer(str(bert_dir / "vocab.txt"), do_lower_case=True)
        self.model = CheXbertModel(BertConfig.from_json_file(str(bert_dir / "config.json")))
        load_checkpoint(self.model, checkpoint)
        self.model.eval().to(device)
        self.device = device
        self.batch_size = batch_size

    @classmethod
    def from_config(cls, config: object) -> CheXbertLabeler:
        """Files from $MTLBENCH_CHEXBERT (the .pth) and $MTLBENCH_BERT (config.json + vocab.txt)."""
        checkpoint = os.environ.get(CHECKPOINT_ENV)
        bert_dir = os.environ.get(BERT_ENV)
        if not checkpoint or not bert_dir:
            raise MtlbenchError(f"chexbert labeler: ${CHECKPOINT_ENV} and ${BERT_ENV} must be set; {_WHERE}")
        return cls(Path(checkpoint), Path(bert_dir))

    @torch.no_grad()
    def label(self, reports: Sequence[str]) -> list[tuple[float, ...]]:
        out: list[tuple[float, ...]] = []
        for start in range(0, len(reports), self.batch_size):
            texts = [" ".join(r.split()) or "." for r in reports[start : start + self.batch_size]]
            enc = self.tokenizer(texts, padding=True, truncation=True, max_length=512, return_tensors="pt")
            heads = self.model(enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device))
            classes = torch.stack([h.argmax(dim=1) for h in heads], dim=1).tolist()
            out += [tuple(_CODES[c] for c in row) for row in classes]
        return out
