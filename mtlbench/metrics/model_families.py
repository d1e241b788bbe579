"""Metric families that need model weights: BERTScore, SembScore, F1RadGraph, RadCliQ-v1.

Each stores per-example scores in the examples' ``stats`` (the statistics module bootstraps and
tests them like every other metric) and its corpus figure is their mean. They run when named
(``mtlbench eval`` runs every one whose package and weights are present) and never silently: a
family that cannot run says why in one line (:meth:`MetricFamily.unavailable`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mtlbench.metrics import bertscore as bs
from mtlbench.metrics import chexbert, nlg, radcliq, radgraph
from mtlbench.metrics.families import METRICS, EvalInput, MetricFamily
from mtlbench.metrics.local_models import ModelPaths, missing_files

Result = tuple[dict[str, float], list[dict[str, Any]]]


def _mean(values: Any) -> float:
    values = np.asarray(values, float)
    return float(values.mean()) if values.size else 0.0


def _bertscore(data: EvalInput, convention: bs.Convention) -> list[float]:
    return data.memo(
        f"bertscore:{convention.key}",
        lambda: bs.bertscore(convention, data.predictions, data.references, data.paths),
    )


def _semb(data: EvalInput) -> list[float]:
    def compute() -> list[float]:
        model = chexbert.load(data.paths)
        generated, reference = model.embed(data.predictions), model.embed(data.references)
        dot = np.einsum("nd,nd->n", generated, reference)
        norms = np.linalg.norm(generated, axis=1) * np.linalg.norm(reference, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return [float(v) for v in np.where(norms > 0, dot / norms, 0.0)]

    return data.memo("semb", compute)


def _annotations(data: EvalInput, model_type: str) -> tuple[list[Any], list[Any]]:
    def compute() -> tuple[list[Any], list[Any]]:
        model = radgraph.annotator(model_type, data.paths)
        return model.annotate(data.predictions), model.annotate(data.references)

    return data.memo(f"radgraph:{model_type}", compute)


def _chexbert_missing(paths: ModelPaths) -> str | None:
    checkpoint, bert = paths.chexbert()
    absent = [str(checkpoint or "chexbert.pth")] if checkpoint is None or not checkpoint.is_file() else []
    absent += missing_files(bert, ("config.json", "vocab.txt"))
    return f"CheXbert: missing {', '.join(absent)}; {chexbert.WHERE}" if absent else None


class _ModelFamily(MetricFamily):
    on_request: ClassVar[bool] = True


@METRICS.register("bertscore")
class BertScore(_ModelFamily):
    """BERTScore F1 as RadEval computes it (distilbert-base-uncased, layer 5, rescaled, no idf)."""

    keys = ("BERTScore",)

    @classmethod
    def unavailable(cls, paths: ModelPaths) -> str | None:
        return bs.missing(bs.RADEVAL, paths)

    def compute(self, data: EvalInput) -> Result:
        scores = _bertscore(data, bs.RADEVAL)
        return {"BERTScore": _mean(scores)}, [{"bertscore": s} for s in scores]


@METRICS.register("bertscore-radcliq")
class BertScoreRadCliQ(_ModelFamily):
    """BERTScore F1 as RadCliQ-v1 computes it (distilroberta-base, layer 5, rescaled, idf of the references)."""

    keys = ("BERTScore_RadCliQ",)

    @classmethod
    def unavailable(cls, paths: ModelPaths) -> str | None:
        return bs.missing(bs.RADCLIQ, paths)

    def compute(self, data: EvalInput) -> Result:
        scores = _bertscore(data, bs.RADCLIQ)
        return {"BERTScore_RadCliQ": _mean(scores)}, [{"bertscore_radcliq": s} for s in scores]


@METRICS.register("semb")
class SembScore(_ModelFamily):
    """SembScore: cosine of the CheXbert embeddings of generated and reference report (Yu et al. 2023)."""

    keys = ("SembScore",)

    @classmethod
    def unavailable(cls, paths: ModelPaths) -> str | None:
        return _chexbert_missing(paths)

    def compute(self, data: EvalInput) -> Result:
        scores = _semb(data)
        return {"SembScore": _mean(scores)}, [{"semb": s} for s in scores]


@METRICS.register("radgraph")
class F1RadGraph(_ModelFamily):
    """F1RadGraph simple / partial / complete (Delbrouck et al. 2022) with the radgraph-xl model."""

    keys = ("F1RadGraph_simple", "F1RadGraph_partial", "F1RadGraph_complete")

    @classmethod
    def unavailable(cls, paths: ModelPaths) -> str | None:
        return radgraph.missing(radgraph.F1RADGRAPH_MODEL, paths)

    def compute(self, data: EvalInput) -> Result:
        generated, reference = _annotations(data, radgraph.F1RADGRAPH_MODEL)
        rewards = np.array([radgraph.f1radgraph(g, r) for g, r in zip(generated, reference)]).reshape(-1, 3)
        corpus = {key: _mean(rewards[:, i]) for i, key in enumerate(self.keys)}
        return corpus, [{"radgraph": [float(v) for v in row]} for row in rewards]


@METRICS.register("radcliq")
class RadCliQ(_ModelFamily):
    """RadCliQ-v1 (Yu et al. 2023; lower is better) from RadGraph, BERTScore, SembScore and BLEU-2."""

    keys = ("RadCliQ_v1", "RadGraph_combined")

    @classmethod
    def unavailable(cls, paths: ModelPaths) -> str | None:
        problems = [
            radgraph.missing(radgraph.RADCLIQ_MODEL, paths),
            bs.missing(bs.RADCLIQ, paths),
            _chexbert_missing(paths),
        ]
        found = [p for p in problems if p]
        return (
            None if not found else found[0] + (f" (and {len(found) - 1} more part missing)" if len(found) > 1 else "")
        )

    def compute(self, data: EvalInput) -> Result:
        generated, reference = _annotations(data, radgraph.RADCLIQ_MODEL)
        combined = [radgraph.radgraph_combined(g, r) for g, r in zip(generated, reference)]
        bleu2 = [nlg.bleu_from_stats([s], 2) for s in nlg.bleu_stats(data.predictions, data.references)]
        components = np.column_stack([combined, _bertscore(data, bs.RADCLIQ), _semb(data), bleu2]).reshape(-1, 4)
        scores = radcliq.radcliq_v1(components)
        rows = [{"radcliq_v1": float(s), "radgraph_combined": float(c)} for s, c in zip(scores, combined)]
        return {"RadCliQ_v1": _mean(scores), "RadGraph_combined": _mean(combined)}, rows
