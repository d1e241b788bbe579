"""RaTEScore (Zhao et al., EMNLP 2024): entity-aware similarity of two reports, through the ``RaTEScore`` package.

Per report pair the package splits sentences (medspacy's PyRuSH), tags entities with a DeBERTa
NER model (RaTE-NER-Deberta: ABNORMALITY, NON-ABNORMALITY, DISEASE, NON-DISEASE, ANATOMY), embeds
each entity with BioLORD-2023-C (its [CLS] state), matches every entity of one report to the most
similar entity of the other, and averages those cosines weighted by a learned affinity of the two
entity types (a negated pair, e.g. DISEASE to NON-DISEASE, further down-weighted); RaTEScore is
the F1 of the two directions ("long" affinity matrix, the package default). A pair where either
report has no entity scores 0.5, the package's rule. The corpus figure is the mean over reports.

Offline: both models come from ``$MTLBENCH_MODELS/RaTE-NER-Deberta/`` and
``$MTLBENCH_MODELS/BioLORD-2023-C/`` (Angelakeke/RaTE-NER-Deberta and FremyCompany/BioLORD-2023-C
on the hub), each checked key by key before the package loads it, with the hub switched off.

What this module adds to RaTEScore 0.6.0, without changing a score:

* the package leaves out of its NER output a report with no sentence (empty, or shorter than 3
  characters), which shifts every later pair onto the wrong one; such a pair is scored 0.5 here
  (no entity on that side, the package's own rule) and never given to the package;
* the device is CUDA when there is one (the package defaults to CUDA);
* PyRuSH's per-sentence debug log is switched off.

Environment: the package imports medspacy, and medspacy 1.3.1 allows only spaCy < 3.8 on Python
< 3.12, whose thinc 8.2 is compiled for numpy < 2. On Python 3.11 with numpy 2 (what a fresh
install of mtlbench gets) the import fails; :func:`environment_problem` says so from the
installed versions without importing anything. Python >= 3.12 (spaCy 3.8) or numpy < 2 with
pandas < 3 works.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from mtlbench.errors import MtlbenchError
from mtlbench.metrics.local_models import WEIGHT_FILES, ModelPaths, check_loading_info, load_encoder, require, where

NER_MODEL, ENCODER_MODEL = "RaTE-NER-Deberta", "BioLORD-2023-C"
HUB_IDS = {NER_MODEL: "Angelakeke/RaTE-NER-Deberta", ENCODER_MODEL: "FremyCompany/BioLORD-2023-C"}
ENTITY_TYPES = ("ABNORMALITY", "NON-ABNORMALITY", "DISEASE", "NON-DISEASE", "ANATOMY")
NO_ENTITY = 0.5
"""The package's score of a pair where either report has no entity."""
TOKENIZER_FILES = ("tokenizer.json", "spm.model", "vocab.txt")
INSTALL = 'pip install "mtlbench[ratescore]" (on Python < 3.12 this brings spaCy 3.7, hence numpy < 2)'


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def installed_versions() -> dict[str, str | None]:
    return {name: _version(name) for name in ("RaTEScore", "medspacy", "spacy", "thinc", "numpy")}


def environment_problem(versions: Mapping[str, str | None]) -> str | None:
    """Why the RaTEScore package cannot be imported here, judged from installed versions alone
    (importing it loads medspacy, seconds), or None."""
    if versions.get("RaTEScore") is None:
        return f"needs the RaTEScore package and medspacy: {INSTALL}"
    if versions.get("medspacy") is None:
        return f"RaTEScore imports medspacy, which is not installed: {INSTALL}"
    thinc, numpy, spacy = versions.get("thinc"), versions.get("numpy"), versions.get("spacy")
    if thinc and numpy and _release(thinc) < (8, 3) and _release(numpy) >= (2,):
        return (
            f"RaTEScore imports medspacy, whose spaCy {spacy} (thinc {thinc}; the newest medspacy allows on "
            f"Python < 3.12) is built for numpy < 2, and numpy {numpy} is installed: use Python >= 3.12, "
            "or numpy<2 and pandas<3"
        )
    return None


def missing(paths: ModelPaths, versions: Mapping[str, str | None] | None = None) -> str | None:
    """Why RaTEScore cannot run here (package, environment or weights, and what to do), or None."""
    problem = environment_problem(installed_versions() if versions is None else versions)
    if problem:
        return problem
    for name in (NER_MODEL, ENCODER_MODEL):
        try:
            require(paths.folder(name), ("config.json", WEIGHT_FILES, TOKENIZER_FILES), "RaTEScore", _instruction(name))
        except MtlbenchError as err:
            return str(err)
    return None


def _instruction(name: str) -> str:
    return where(name, HUB_IDS[name], "config.json, the tokenizer files and the weights")


def check_ner_model(folder: Path) -> None:
    """Refuse a token classifier whose weights leave keys unset or whose labels are not RaTE-NER's IOB tags."""
    from transformers import AutoModelForTokenClassification

    model, info = AutoModelForTokenClassification.from_pretrained(
        str(folder), local_files_only=True, output_loading_info=True
    )
    check_loading_info(info, folder, "RaTEScore (RaTE-NER)")
    labels = set(model.config.id2label.values())
    expected = {"O"} | {f"{p}-{t}" for p in "BI" for t in ENTITY_TYPES}
    if labels != expected:
        raise MtlbenchError(
            f"RaTEScore: {folder} labels {sorted(labels)[:4]}..., not RaTE-NER's IOB tags of "
            f"{', '.join(ENTITY_TYPES)}; is it Angelakeke/RaTE-NER-Deberta?"
        )


@contextlib.contextmanager
def _hub_off() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({key: "1" for key in saved})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@functools.cache
def _scorer(ner: Path, encoder: Path, device: str) -> Any:
    """The package's scorer on the two local folders, after a strict check of both models."""
    check_ner_model(ner)
    load_encoder(encoder, "RaTEScore (BioLORD-2023-C)")
    with _hub_off():
        from loguru import logger

        logger.disable("PyRuSH")  # it logs every sentence at DEBUG level
        from RaTEScore import RaTEScore

        return RaTEScore(bert_model=str(ner), eval_model=str(encoder), use_gpu=device == "cuda")


def _has_sentence(text: str) -> bool:
    from RaTEScore.utils import sentence_split

    return bool(sentence_split([text])[0])


def ratescore(candidates: Sequence[str], references: Sequence[str], paths: ModelPaths) -> list[float]:
    """Per-pair RaTEScore; a pair with a report the package cannot split into a sentence scores 0.5."""
    import torch

    problem = missing(paths)
    if problem:
        raise MtlbenchError(problem)
    ner, encoder = paths.folder(NER_MODEL), paths.folder(ENCODER_MODEL)
    assert ner is not None and encoder is not None
    scorer = _scorer(ner, encoder, "cuda" if torch.cuda.is_available() else "cpu")
    scores = [NO_ENTITY] * len(candidates)
    kept = [i for i, pair in enumerate(zip(candidates, references)) if all(_has_sentence(t) for t in pair)]
    if kept:
        out = scorer.compute_score([candidates[i] for i in kept], [references[i] for i in kept])
        for i, score in zip(kept, out, strict=True):
            scores[i] = float(score)
    return scores
