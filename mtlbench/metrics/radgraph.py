"""RadGraph F1: entities and relations of generated and reference reports, compared as sets.

Two published scorings over the same kind of annotation (RadGraph, Jain et al. 2021: entities
with a label such as ``Observation::definitely present`` and relations ``modify``,
``located_at``, ``suggestive_of`` to other entities):

* **F1RadGraph** (Delbrouck et al. 2022; the ``radgraph`` package's ``rewards.py``), per report
  pair, F1 of two sets where precision is the share of the generated set found in the
  reference set and recall the converse:
  - simple: (tokens, label) of every entity;
  - partial: (tokens, label) of an entity without relations, (tokens, label, True) of one with;
  - complete: (tokens, label) of an entity without relations, and one
    (tokens lower-cased, label, relation, target tokens lower-cased) per relation of one with.
  A pair where either report has no entity scores 0 on all three (the package's rule), and so
  does an empty report. The corpus figure is the mean over reports. RadEval's ``radgraph``
  metric and the package default use the ``radgraph-xl`` model; that is the model here.
* **RadGraph combined** of RadCliQ (CXR-Report-Metric, ``radgraph_evaluate_model``): the mean of
  the F1 of entity sets {(tokens, label)} and of relation sets {((tokens, label), (target tokens,
  target label), relation)}, each 0 when it has no true positive; computed with the original
  ``radgraph`` model, as RadCliQ-v1 was fitted on it.

Annotations come from the ``radgraph`` package's model read from a local folder
(``$MTLBENCH_MODELS/radgraph-xl`` or ``/radgraph``: radgraph.tar.gz of StanfordAIMI/RRG_scorers
unpacked, i.e. config.json, vocabulary/, weights.th) whose config.json names a transformer that
must be in ``$MTLBENCH_MODELS/<its hub id>/``. The package loads weights.th with ``strict=True``.
radgraph 0.1.18's bundled AllenNLP calls two tokenizer methods that transformers 5 removed
(``encode_plus``, ``build_inputs_with_special_tokens``): :func:`_tokenizer_adapter` gives them
back, with transformers 4's meaning, to the tokenizers that package creates, and to no other.
"""

from __future__ import annotations

import contextlib
import functools
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mtlbench.errors import MtlbenchError
from mtlbench.metrics.local_models import WEIGHT_FILES, ModelPaths, missing_files, where

Annotation = Mapping[str, Any]
"""One report's RadGraph output: {"entities": {id: {"tokens", "label", "relations": [[type, id]]}}}."""

F1RADGRAPH_MODEL, RADCLIQ_MODEL = "radgraph-xl", "radgraph"


def _entities(annotation: Annotation) -> Mapping[str, Mapping[str, Any]]:
    return annotation.get("entities") or {}


def simple_set(annotation: Annotation) -> set[tuple[Any, ...]]:
    return {(e["tokens"], e["label"]) for e in _entities(annotation).values()}


def partial_set(annotation: Annotation) -> set[tuple[Any, ...]]:
    return {
        (e["tokens"], e["label"], True) if e["relations"] else (e["tokens"], e["label"])
        for e in _entities(annotation).values()
    }


def complete_set(annotation: Annotation) -> set[tuple[Any, ...]]:
    entities = _entities(annotation)
    out: set[tuple[Any, ...]] = set()
    for e in entities.values():
        if not e["relations"]:
            out.add((e["tokens"], e["label"]))
        for relation, target in e["relations"]:
            out.add((e["tokens"].lower(), e["label"], relation, entities[target]["tokens"].lower()))
    return out


def set_f1(generated: set[Any], reference: set[Any]) -> float:
    """F1 of two sets; 0 when nothing matches (both the package's and RadCliQ's convention)."""
    hits = len(generated & reference)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(generated), hits / len(reference)
    return 2 * precision * recall / (precision + recall)


def f1radgraph(generated: Annotation, reference: Annotation) -> tuple[float, float, float]:
    """(simple, partial, complete) reward of one report pair."""
    if not _entities(generated) or not _entities(reference):
        return 0.0, 0.0, 0.0
    return tuple(set_f1(f(generated), f(reference)) for f in (simple_set, partial_set, complete_set))  # type: ignore[return-value]


def relation_set(annotation: Annotation) -> set[tuple[Any, ...]]:
    entities = _entities(annotation)
    return {
        ((e["tokens"], e["label"]), (entities[target]["tokens"], entities[target]["label"]), relation)
        for e in entities.values()
        for relation, target in e["relations"]
    }


def radgraph_combined(generated: Annotation, reference: Annotation) -> float:
    """RadCliQ's RadGraph score of one pair: (entity F1 + relation F1) / 2."""
    return (
        set_f1(simple_set(generated), simple_set(reference)) + set_f1(relation_set(generated), relation_set(reference))
    ) / 2


# --- the annotating model -------------------------------------------------------------------

MODEL_FILES: tuple[str | tuple[str, ...], ...] = ("config.json", "weights.th", "vocabulary/non_padded_namespaces.txt")


def instruction(model_type: str) -> str:
    return where(
        model_type, f"{model_type}.tar.gz of StanfordAIMI/RRG_scorers", "unpacked: config.json, vocabulary/, weights.th"
    )


def _transformer_name(folder: Path) -> str:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return str(config["model"]["embedder"]["token_embedders"]["bert"]["model_name"])


def missing(model_type: str, paths: ModelPaths) -> str | None:
    """Why this RadGraph model cannot run here, or None."""
    try:
        import radgraph  # noqa: F401
    except ImportError:
        return 'needs the radgraph package: pip install "mtlbench[clinical]"'
    folder = paths.folder(model_type)
    absent = missing_files(folder, MODEL_FILES)
    if absent:
        return f"RadGraph ({model_type}): missing {', '.join(absent)}; {instruction(model_type)}"
    assert folder is not None and paths.root is not None
    try:
        name = _transformer_name(folder)
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as err:
        return f"RadGraph ({model_type}): {folder / 'config.json'} is not a RadGraph model config ({err})"
    transformer = Path(name) if Path(name).is_absolute() else paths.root / name
    absent = missing_files(transformer, ("config.json", "vocab.txt", WEIGHT_FILES))
    if absent:
        files = "config.json, vocab.txt, weights"
        return f"RadGraph ({model_type}): missing {', '.join(absent)}; {where(name, name, files)}"
    return None


@contextlib.contextmanager
def _tokenizer_adapter() -> Iterator[None]:
    """While the package builds its model, its tokenizers get transformers 4's two methods back."""
    from radgraph.allennlp.common import cached_transformers

    original = cached_transformers.get_tokenizer

    def adapted(model_name: str, **kwargs: Any) -> Any:
        kwargs.pop("add_special_tokens", None)  # a keyword transformers >= 4.44 rejects here
        tokenizer = original(model_name, **kwargs)
        if not hasattr(tokenizer, "encode_plus"):
            tokenizer.encode_plus = functools.partial(_encode_plus, tokenizer)
        if not hasattr(tokenizer, "build_inputs_with_special_tokens"):
            from mtlbench.metrics.bertscore import _Wrap

            tokenizer.build_inputs_with_special_tokens = _Wrap(tokenizer.cls_token_id, tokenizer.sep_token_id)
        return tokenizer

    cached_transformers.get_tokenizer = adapted
    try:
        yield
    finally:
        cached_transformers.get_tokenizer = original


def _encode_plus(tokenizer: Any, text: Any, text_pair: Any = None, **kwargs: Any) -> Any:
    return tokenizer(text, text_pair, **kwargs)


class RadGraphAnnotator:
    """The radgraph package's model of one type, read from the local models folder."""

    def __init__(self, model_type: str, paths: ModelPaths) -> None:
        problem = missing(model_type, paths)
        if problem:
            raise MtlbenchError(problem)
        folder, root = paths.folder(model_type), paths.root
        assert folder is not None and root is not None
        name = _transformer_name(folder)
        local = Path(name) if Path(name).is_absolute() else root / name
        self.model_type = model_type
        self._workdir = tempfile.TemporaryDirectory(prefix="mtlbench-radgraph-")
        staged = Path(self._workdir.name) / model_type
        staged.mkdir()
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        for section in (config["model"]["embedder"], config["dataset_reader"]):
            key = "token_embedders" if "token_embedders" in section else "token_indexers"
            section[key]["bert"]["model_name"] = str(local)  # the local copy, never the hub id
        (staged / "config.json").write_text(json.dumps(config))
        for entry in ("vocabulary", "weights.th"):
            (staged / entry).symlink_to((folder / entry).resolve())
        from radgraph import RadGraph

        try:
            with _tokenizer_adapter(), contextlib.redirect_stdout(None):
                self._model = RadGraph(model_type=model_type, model_cache_dir=self._workdir.name, cuda=-1)
        except RuntimeError as err:  # load_state_dict(strict=True): keys that do not fit
            first = str(err).strip().splitlines()
            raise MtlbenchError(
                f"RadGraph ({model_type}): {folder / 'weights.th'} does not fit its config.json: "
                f"{' '.join(first[:2])[:300]}; is it the unpacked {model_type}.tar.gz?"
            ) from None

    def annotate(self, reports: Sequence[str]) -> list[Annotation]:
        """One annotation per report; an empty report has no entities (it is not run)."""
        unique = sorted({r for r in reports if r.strip()})
        found: dict[str, Annotation] = {}
        if unique:
            with contextlib.redirect_stdout(None):
                output = self._model(unique)
            found = {text: output.get(str(i), {"entities": {}}) for i, text in enumerate(unique)}
        return [found.get(r, {"entities": {}}) for r in reports]


@functools.cache
def annotator(model_type: str, paths: ModelPaths) -> RadGraphAnnotator:
    """One model per type and folder per process."""
    return RadGraphAnnotator(model_type, paths)
