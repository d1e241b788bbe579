"""Where model-based metrics find their weights: local folders only, never a model hub.

One folder (``--models-dir`` or ``$MTLBENCH_MODELS``) holds every model under the name it has
on the Hugging Face hub, so a user downloads once, on any machine, and copies the folder:

    $MTLBENCH_MODELS/chexbert.pth                  CheXbert (StanfordAIMI/RRG_scorers)
    $MTLBENCH_MODELS/bert-base-uncased/            config.json, vocab.txt (CheXbert's tokenizer)
    $MTLBENCH_MODELS/distilbert-base-uncased/      BERTScore, RadEval's convention
    $MTLBENCH_MODELS/distilroberta-base/           BERTScore, RadCliQ's convention
    $MTLBENCH_MODELS/radgraph/                     RadGraph (radgraph.tar.gz of RRG_scorers, unpacked)

``$MTLBENCH_CHEXBERT`` and ``$MTLBENCH_BERT`` (the CheXbert labeler's variables) still name
CheXbert's two files directly and win over the folder. Every transformers model is read with
``local_files_only`` from a directory, and its weights must cover the whole architecture:
a checkpoint that leaves parameters to random initialisation is refused, naming the keys.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtlbench.errors import MtlbenchError

MODELS_ENV = "MTLBENCH_MODELS"
CHEXBERT_ENV = "MTLBENCH_CHEXBERT"
BERT_ENV = "MTLBENCH_BERT"
HUB = "the Hugging Face hub"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOLERATED_MISSING = ("pooler.", "position_ids", "token_type_ids")
"""Keys a base-model checkpoint may lack: the pooler (BERTScore and the labelers never use it;
masked-LM checkpoints do not have it) and buffers that transformers recomputes."""


@dataclass(frozen=True)
class ModelPaths:
    """The local model folder and the CheXbert overrides; resolved once per evaluation."""

    root: Path | None = None
    chexbert_checkpoint: Path | None = None
    bert_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, root: Path | None = None) -> ModelPaths:
        """``root`` if given, else $MTLBENCH_MODELS; CheXbert's files from $MTLBENCH_CHEXBERT / $MTLBENCH_BERT."""
        env = os.environ if environ is None else environ
        root = root if root is not None else (Path(env[MODELS_ENV]) if env.get(MODELS_ENV) else None)
        checkpoint = Path(env[CHEXBERT_ENV]) if env.get(CHEXBERT_ENV) else None
        bert = Path(env[BERT_ENV]) if env.get(BERT_ENV) else None
        return cls(root, checkpoint, bert)

    def folder(self, name: str) -> Path | None:
        """``root/name``, or None when no models folder is configured."""
        return None if self.root is None else self.root / name

    def chexbert(self) -> tuple[Path | None, Path | None]:
        """(chexbert.pth, bert-base-uncased folder): the overrides, else the models folder's."""
        checkpoint = self.chexbert_checkpoint or (self.root / "chexbert.pth" if self.root else None)
        bert = self.bert_dir or self.folder("bert-base-uncased")
        return checkpoint, bert


def where(name: str, hub_id: str, files: str) -> str:
    """The one instruction a missing model gets: what to fetch, and where to put it."""
    return (
        f"download {hub_id} from {HUB} ({files}) on a machine with network access and put it in "
        f"${MODELS_ENV}/{name}/ (or pass --models-dir)"
    )


def missing_files(folder: Path | None, names: Sequence[str | tuple[str, ...]]) -> list[str]:
    """The entries of ``names`` absent from ``folder`` (a tuple means: any one of these)."""
    if folder is None:
        return ["the models folder (not configured)"]
    out = []
    for entry in names:
        options = (entry,) if isinstance(entry, str) else entry
        if not any((folder / option).is_file() for option in options):
            out.append(str(folder / " or ".join(options)))
    return out


def require(folder: Path | None, names: Sequence[str | tuple[str, ...]], what: str, instruction: str) -> Path:
    """``folder`` if it holds every file of ``names``; else one line naming what is missing and where it goes."""
    missing = missing_files(folder, names)
    if missing or folder is None:
        raise MtlbenchError(f"{what}: missing {', '.join(missing)}; {instruction}")
    return folder


def check_loading_info(info: Mapping[str, Any], folder: Path, what: str) -> None:
    """Refuse weights that leave any used parameter uninitialised or of another shape."""
    missing = [k for k in info.get("missing_keys", ()) if not any(t in k for t in TOLERATED_MISSING)]
    mismatched = [str(k[0] if isinstance(k, tuple) else k) for k in info.get("mismatched_keys", ())]
    if missing or mismatched:
        raise MtlbenchError(
            f"{what}: the weights in {folder} do not fit its config.json: {len(missing)} missing keys "
            f"{missing[:3]}, {len(mismatched)} keys of another shape {mismatched[:3]}; is it the right model?"
        )


def load_encoder(folder: Path, what: str) -> Any:
    """A transformers encoder from ``folder`` only (config.json + weights), every used key checked."""
    from transformers import AutoModel

    model, info = AutoModel.from_pretrained(str(folder), local_files_only=True, output_loading_info=True)
    check_loading_info(info, folder, what)
    return model.eval()
