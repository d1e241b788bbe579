"""One call that scores generated reports against references with every configured metric."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mtlbench.errors import MtlbenchError
from mtlbench.metrics.families import METRICS, EvalInput
from mtlbench.metrics.labelers import LABELERS
from mtlbench.metrics.local_models import ModelPaths
from mtlbench.train.config import EvalConfig

NLG_FAMILIES = {"BLEU": "bleu", "METEOR": "meteor", "ROUGE_L": "rouge", "CIDEr": "cider"}


@dataclass
class Evaluation:
    """Corpus figures, per-label CE figures, and one row per example for the statistics module."""

    corpus: dict[str, float]
    per_label: dict[str, dict[str, float]] = field(default_factory=dict)
    per_example: list[dict[str, Any]] = field(default_factory=list)


def _codes(row: Sequence[float]) -> list[float | None]:
    return [None if isinstance(c, float) and math.isnan(c) else c for c in row]


def _default_families(nlg: Sequence[str] | None, config: EvalConfig) -> list[str]:
    wanted = set(NLG_FAMILIES) if nlg is None else set(nlg)
    unknown = wanted - set(NLG_FAMILIES)
    if unknown:
        raise MtlbenchError(f"unknown NLG metrics {sorted(unknown)}; known: {', '.join(NLG_FAMILIES)}")
    if not config.meteor:
        wanted.discard("METEOR")
    return [NLG_FAMILIES[name] for name in NLG_FAMILIES if name in wanted]


def family_status(paths: ModelPaths | None = None) -> dict[str, str | None]:
    """Every registered metric family: None if it can run here, else the one-line reason why not."""
    paths = paths or ModelPaths.from_env()
    return {name: METRICS.get(name).unavailable(paths) for name in METRICS.names()}


def evaluate(
    ids: Sequence[str],
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    config: EvalConfig,
    reference_labels: Sequence[Sequence[float]] | None = None,
    nlg: Sequence[str] | None = None,
    clinical: bool = True,
    labeler: Any = None,
    metrics: Sequence[str] | None = None,
    paths: ModelPaths | None = None,
) -> Evaluation:
    """Score ``predictions`` against ``references`` (cleaned texts, aligned by position).

    ``nlg`` picks NLG metrics by name ("BLEU", "METEOR", "ROUGE_L", "CIDEr"; None = all, METEOR
    only if ``config.meteor``); ``clinical`` adds CE with ``config.labeler`` (or ``labeler``),
    which labels both sides unless ``reference_labels`` are given. Third-party metric families
    registered under ``mtlbench.metrics`` run too, except those that need model weights.

    ``metrics`` instead names the families to run, exactly (registry names: "bleu", "ce",
    "bertscore", "radgraph", ...; see :func:`family_status`); model families read their weights
    from ``paths`` (default: $MTLBENCH_MODELS and the CheXbert variables).
    """
    if not (len(ids) == len(predictions) == len(references)):
        raise MtlbenchError(
            f"evaluate: {len(ids)} ids, {len(predictions)} predictions, {len(references)} references; they must align"
        )
    if metrics is not None:
        families = [METRICS.canonical(name) for name in metrics]
        families = [name for name in dict.fromkeys(families) if config.meteor or name != "meteor"]
        clinical = "ce" in families
        families = [name for name in families if name != "ce"]
    else:
        families = _default_families(nlg, config)
    data = EvalInput(list(ids), list(predictions), list(references), config, paths=paths or ModelPaths.from_env())
    if clinical:
        labeler = labeler or LABELERS.get(config.labeler).from_config(config)
        data.labels_generated = labeler.label(list(predictions))
        data.labels_reference = (
            [tuple(r) for r in reference_labels] if reference_labels is not None else labeler.label(list(references))
        )
        families.append("ce")
    if metrics is None and nlg is None:  # third-party families join full evaluations
        families += [
            name
            for name in METRICS.names()
            if name not in {*NLG_FAMILIES.values(), "ce"} and not METRICS.get(name).on_request
        ]
    corpus: dict[str, float] = {}
    stats: list[dict[str, Any]] = [{} for _ in ids]
    for name in families:
        family = METRICS.get(name)()
        figures, rows = family.compute(data)
        corpus |= figures
        for row, extra in zip(stats, rows):
            row |= extra
    per_example = []
    for i, example_id in enumerate(ids):
        row: dict[str, Any] = {"id": example_id, "generated": predictions[i], "reference": references[i]}
        if clinical:
            row["labels_generated"] = _codes(data.labels_generated[i])
            row["labels_reference"] = _codes(data.labels_reference[i])
        row["stats"] = stats[i]
        per_example.append(row)
    return Evaluation(corpus=corpus, per_label=data.extra.get("per_label", {}), per_example=per_example)
