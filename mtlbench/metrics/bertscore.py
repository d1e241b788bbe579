"""BERTScore (Zhang et al. 2020) through the ``bert-score`` package, in the two conventions RRG uses.

Per report pair: greedy cosine matching of contextual token embeddings of one layer, F1 of the
matched precision and recall ([CLS]/[SEP] excluded), then, when rescaled, ``(F - b) / (1 - b)``
with the package's own baseline ``b`` for that model and layer (its ``rescale_baseline/en``
files, shipped inside the package). The corpus figure is the mean of the per-report F1.

=====================  ==========================  =====  =======  ========================
convention             model                       layer  idf      baseline rescaling
=====================  ==========================  =====  =======  ========================
``BERTScore``          distilbert-base-uncased     5      no       yes (RadEval ``bertscore``)
``BERTScore_RadCliQ``  distilroberta-base          5      yes      yes (CXR-Report-Metric)
=====================  ==========================  =====  =======  ========================

RadEval (jbdel/RadEval, ``metrics/bertscore``) fixes distilbert-base-uncased, layer 5, rescaled,
no idf. RadCliQ's code (rajpurkarlab/CXR-Report-Metric, ``run_eval.add_bertscore_col``) uses
distilroberta-base at bert-score's default layer for it (5), rescaled, with idf weights computed
from the evaluation's reference reports (RadEval's RadCliQ-v1 does the same), after collapsing
runs of spaces. With idf, a report's score depends on the whole reference set, as CIDEr's does:
the statistics module resamples per-example scores with the idf of the full test set.

The model comes from a local folder named after its hub id (``$MTLBENCH_MODELS/<model>/``);
its weights are checked key by key before bert-score loads them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtlbench.errors import MtlbenchError
from mtlbench.metrics.local_models import WEIGHT_FILES, ModelPaths, load_encoder, require, where


@dataclass(frozen=True)
class Convention:
    """One published way of computing BERTScore."""

    key: str
    model: str
    layer: int
    idf: bool
    rescale: bool
    source: str
    tokenizer_files: tuple[str | tuple[str, ...], ...]

    def folder(self, paths: ModelPaths) -> Path | None:
        return paths.folder(self.model)

    def instruction(self) -> str:
        return where(self.model, self.model, "config.json, the tokenizer files and model.safetensors")


RADEVAL = Convention(
    "BERTScore", "distilbert-base-uncased", 5, idf=False, rescale=True, source="RadEval", tokenizer_files=("vocab.txt",)
)
RADCLIQ = Convention(
    "BERTScore_RadCliQ",
    "distilroberta-base",
    5,
    idf=True,
    rescale=True,
    source="CXR-Report-Metric (RadCliQ-v1)",
    tokenizer_files=("vocab.json", "merges.txt"),
)
CONVENTIONS = {c.key: c for c in (RADEVAL, RADCLIQ)}
MAX_TOKENS = 512
"""Both hub tokenizers' model_max_length: longer reports are cut there, as bert-score cuts them."""


def missing(convention: Convention, paths: ModelPaths) -> str | None:
    """Why this convention cannot run here (package or files), or None."""
    try:
        import bert_score  # noqa: F401
    except ImportError:
        return 'needs the bert-score package: pip install "mtlbench[clinical]"'
    try:
        require(
            convention.folder(paths),
            ("config.json", WEIGHT_FILES, *convention.tokenizer_files),
            f"BERTScore ({convention.source})",
            convention.instruction(),
        )
    except MtlbenchError as err:
        return str(err)
    return None


def baseline_file(convention: Convention) -> Path:
    """bert-score's own rescaling baseline of this convention's model (rows are layers)."""
    import bert_score

    path = Path(bert_score.__file__).parent / "rescale_baseline" / "en" / f"{convention.model}.tsv"
    if not path.is_file():
        raise MtlbenchError(f"bert-score ships no baseline for {convention.model} ({path}); reinstall bert-score")
    return path


@functools.cache
def _scorer(convention: Convention, folder: Path, device: str) -> Any:
    """A bert-score BERTScorer on the local folder, after a strict check of its weights."""
    from bert_score import BERTScorer

    if "t5" in str(folder) or Path(str(folder)).name.startswith("scibert"):
        # bert-score picks a model class from the name it is given (a path here)
        raise MtlbenchError(f"BERTScore: move the models folder to a path without 't5' or 'scibert' ({folder})")
    load_encoder(folder, f"BERTScore ({convention.source})")
    scorer = BERTScorer(
        model_type=str(folder),
        num_layers=convention.layer,
        idf=convention.idf,
        lang="en",
        rescale_with_baseline=convention.rescale,
        baseline_path=str(baseline_file(convention)) if convention.rescale else None,
        device=device,
    )
    _adapt_tokenizer(scorer._tokenizer)  # bert-score keeps its tokenizer private
    return scorer


def _adapt_tokenizer(tokenizer: Any) -> None:
    """Two gaps between bert-score 0.3.13 and transformers 5, closed without changing a score.

    A folder without tokenizer_config.json has no length limit, which transformers 5 cannot truncate
    to: it gets the hub tokenizers' 512. And bert-score encodes an empty text as
    ``build_inputs_with_special_tokens([])``, which transformers 5 removed: it is given back with
    transformers 4's meaning ([CLS] [SEP], or <s> </s>), so an empty report scores as bert-score
    defines it (raw 0) and still counts as a document for idf.
    """
    if tokenizer.model_max_length > MAX_TOKENS:
        tokenizer.model_max_length = MAX_TOKENS
    if not hasattr(tokenizer, "build_inputs_with_special_tokens"):
        tokenizer.build_inputs_with_special_tokens = _Wrap(tokenizer.cls_token_id, tokenizer.sep_token_id)


@dataclass(frozen=True)
class _Wrap:
    """[CLS] ids [SEP]; a class, not a closure, as bert-score pickles the tokenizer for its idf pool."""

    first: int
    last: int

    def __call__(self, ids: Sequence[int]) -> list[int]:
        return [self.first, *ids, self.last]


def _clean(texts: Sequence[str]) -> list[str]:
    return [re.sub(r" +", " ", text) for text in texts]


def bertscore(
    convention: Convention,
    candidates: Sequence[str],
    references: Sequence[str],
    paths: ModelPaths,
    *,
    device: str | None = None,
) -> list[float]:
    """Per-pair BERTScore F1 under ``convention``."""
    import torch

    problem = missing(convention, paths)
    if problem:
        raise MtlbenchError(problem)
    folder = convention.folder(paths)
    assert folder is not None
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    scorer = _scorer(convention, folder, device)
    references = _clean(references)
    if convention.idf:
        scorer.compute_idf(references)
    if not candidates:
        return []
    _, _, f1 = scorer.score(_clean(candidates), references, verbose=False)
    return [float(v) for v in f1]
