"""``chexbert``: the CheXbert labeler (Smit et al., 2020) from local files, no downloads.

The model is f1chexbert's ``bert_labeler`` (a BERT encoder, 13 four-way heads - blank, positive,
negative, uncertain - and a two-way head for No Finding) and the input encoding CheXbert's
(whitespace clean-up, [CLS] ... [SEP] cut at 512), so the labels are the ones f1chexbert gives.
What differs is only where the files come from: f1chexbert's constructor downloads
bert-base-uncased from the hub, its download of ``chexbert.pth`` is broken on current
huggingface_hub, and it loads the weights with ``strict=False`` (a wrong file silently gives
random heads). Here the BERT config and vocabulary come from a local folder, the weights from a
local ``chexbert.pth``, and EVERY key must match: a checkpoint that does not fit is an error
naming the keys. The only tolerated difference is BERT's ``position_ids`` buffer, which older
checkpoints store and current transformers recomputes. Reports are labelled in batches.
"""

from __future__ import annotations

import functools
import hashlib
import math
import pickle
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mtlbench.errors import MtlbenchError
from mtlbench.metrics.local_models import BERT_ENV, MODELS_ENV, ModelPaths
from mtlbench.metrics.local_models import CHEXBERT_ENV as CHECKPOINT_ENV

WHERE = (
    "get chexbert.pth from the StanfordAIMI/RRG_scorers repository on the Hugging Face hub (or the CheXbert "
    "release, stanfordmlgroup/CheXbert) and config.json + vocab.txt of bert-base-uncased (google-bert/bert-base-uncased"
    f" on the hub), then pass --chexbert-checkpoint and --bert-dir, or set ${CHECKPOINT_ENV} and ${BERT_ENV}, "
    f"or put them in ${MODELS_ENV} as chexbert.pth and bert-base-uncased/"
)
CODES = {0: math.nan, 1: 1.0, 2: 0.0, 3: -1.0}
"""CheXbert's classes -> CheXpert codes (blank, positive, negative, uncertain)."""
TOLERATED = ("bert.embeddings.position_ids",)
MAX_TOKENS = 512


@functools.cache
def _f1chexbert() -> Any:
    """The f1chexbert module; its import silences every warning process-wide, which is undone here."""
    with warnings.catch_warnings():
        from f1chexbert import f1chexbert

    return f1chexbert


def build_model(config: Any) -> nn.Module:
    """f1chexbert's ``bert_labeler`` with its modules built from a local BERT config.

    Its own ``__init__`` fetches bert-base-uncased from the hub, so the same modules (same names,
    same shapes) are set up here; ``forward`` is f1chexbert's.
    """
    from transformers import BertModel

    labeler_class = _f1chexbert().bert_labeler
    model = labeler_class.__new__(labeler_class)
    nn.Module.__init__(model)
    model.bert = BertModel(config)
    model.dropout = nn.Dropout(0.1)
    hidden = model.bert.pooler.dense.in_features
    model.linear_heads = nn.ModuleList([nn.Linear(hidden, 4) for _ in range(13)] + [nn.Linear(hidden, 2)])
    return model


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # an older torch.save with objects beyond tensors: the user chose this file
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError) as err:
        raise MtlbenchError(f"cannot read the CheXbert checkpoint {path}: {err}; {WHERE}") from None
    state = payload.get("model_state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise MtlbenchError(f"{path} holds no state dict; is it CheXbert's chexbert.pth? {WHERE}")
    renamed = {}
    for key, value in state.items():
        key = key.removeprefix("module.")  # saved from nn.DataParallel
        key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        renamed[key] = value
    return renamed


def load_checkpoint(model: nn.Module, path: Path) -> None:
    """Load ``path`` into ``model``, requiring every key (but ``position_ids``) and every shape to match."""
    state = _state_dict(path)
    expected = model.state_dict()
    for key in TOLERATED:
        if key in state and key not in expected:
            del state[key]
        elif key in expected and key not in state:
            state[key] = expected[key]
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    shapes = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shapes:
        raise MtlbenchError(
            f"{path} does not fit the CheXbert model: {len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:3]}, {len(shapes)} keys of another shape {shapes[:3]}; "
            "is it CheXbert's chexbert.pth, with the bert-base-uncased config.json?"
        )
    model.load_state_dict(state, strict=True)


class CheXbertLabeler:
    """Labels reports with CheXbert, batched, from local files."""

    description = "CheXbert (Smit et al. 2020) labeler"

    def __init__(self, checkpoint: Path, bert_dir: Path, *, device: str | None = None, batch_size: int = 32) -> None:
        from transformers import BertConfig, BertTokenizer

        checkpoint, bert_dir = Path(checkpoint), Path(bert_dir)
        wanted = (checkpoint, bert_dir / "config.json", bert_dir / "vocab.txt")
        missing = [str(p) for p in wanted if not p.is_file()]
        if missing:
            raise MtlbenchError(f"chexbert labeler: missing {', '.join(missing)}; {WHERE}")
        self.tokenizer = BertTokenizer(str(bert_dir / "vocab.txt"), do_lower_case=True)
        self.model = build_model(BertConfig.from_json_file(str(bert_dir / "config.json")))
        load_checkpoint(self.model, checkpoint)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.eval().to(self.device)
        self.batch_size = batch_size
        stat = checkpoint.stat()
        identity = f"{checkpoint.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        self.cache_key = f"chexbert-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"

    @classmethod
    def from_config(cls, config: object) -> CheXbertLabeler:
        """Files from $MTLBENCH_CHEXBERT (the .pth) and $MTLBENCH_BERT (config.json + vocab.txt), else
        chexbert.pth and bert-base-uncased/ in $MTLBENCH_MODELS."""
        return load(ModelPaths.from_env())

    def _batches(self, reports: Sequence[str]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        encoded = self.encode(reports)
        for start in range(0, len(encoded), self.batch_size):
            chunk = encoded[start : start + self.batch_size]
            length = max(len(ids) for ids in chunk)
            ids = torch.full((len(chunk), length), self.tokenizer.pad_token_id or 0, dtype=torch.long)
            mask = torch.zeros(len(chunk), length, dtype=torch.float)
            for row, seq in enumerate(chunk):
                ids[row, : len(seq)] = torch.tensor(seq)
                mask[row, : len(seq)] = 1.0
            yield ids.to(self.device), mask.to(self.device)

    @torch.no_grad()
    def embed(self, reports: Sequence[str]) -> np.ndarray:
        """[N, hidden] CheXbert report embeddings: the final layer's [CLS] state, as CheXbert's
        ``encode.py`` (used by CXR-Report-Metric for s_emb) takes it, before dropout and heads."""
        out = [
            self.model.bert(ids, attention_mask=mask)[0][:, 0, :].float().cpu() for ids, mask in self._batches(reports)
        ]
        return torch.cat(out).numpy() if out else np.zeros((0, self.model.bert.config.hidden_size), np.float32)

    def encode(self, reports: Sequence[str]) -> list[list[int]]:
        """Token ids as CheXbert's own ``tokenize`` builds them (f1chexbert's copy of it calls
        ``encode_plus``, which transformers 5 removed): whitespace collapsed, [CLS] ... [SEP], cut to
        512 keeping the final [SEP]; an empty report is [CLS] [SEP]."""
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        out = []
        for report in reports:
            tokens = self.tokenizer.tokenize(" ".join(report.split()))
            if not tokens:
                out.append([cls_id, sep_id])
                continue
            ids = [cls_id, *self.tokenizer.convert_tokens_to_ids(tokens), sep_id]
            out.append(ids if len(ids) <= MAX_TOKENS else [*ids[: MAX_TOKENS - 1], sep_id])
        return out

    @torch.no_grad()
    def label(self, reports: Sequence[str]) -> list[tuple[float, ...]]:
        """14 CheXpert codes per report, in CheXbert order."""
        out: list[tuple[float, ...]] = []
        for ids, mask in self._batches(reports):
            heads = self.model(ids, mask)
            classes = torch.stack([h.argmax(dim=1) for h in heads], dim=1).tolist()
            out += [tuple(CODES[c] for c in row) for row in classes]
        return out


def load(paths: ModelPaths) -> CheXbertLabeler:
    """The CheXbert model of ``paths``, loaded once per process (the labeler and SembScore share it)."""
    checkpoint, bert_dir = paths.chexbert()
    if checkpoint is None or bert_dir is None:
        raise MtlbenchError(
            f"chexbert: no CheXbert files configured (${CHECKPOINT_ENV} and ${BERT_ENV} unset); {WHERE}"
        )
    return _load(checkpoint, bert_dir)


@functools.cache
def _load(checkpoint: Path, bert_dir: Path) -> CheXbertLabeler:
    return CheXbertLabeler(checkpoint, bert_dir)
