"""Metric families: each computes its corpus figures and per-example statistics for one evaluation.

Third parties add a family through the entry-point group ``mtlbench.metrics``: a subclass of
:class:`MetricFamily` whose ``compute`` returns corpus figures under its ``keys`` and, per
example, a dict merged into that example's ``stats``.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from mtlbench.metrics import nlg
from mtlbench.metrics.clinical import ce_scores, to_binary
from mtlbench.metrics.local_models import ModelPaths
from mtlbench.metrics.meteor import meteor
from mtlbench.registry import Registry, require_subclass
from mtlbench.train.config import EvalConfig


@dataclass
class EvalInput:
    """What every family sees: aligned texts, the settings, and labels when CE is on."""

    ids: Sequence[str]
    predictions: Sequence[str]
    references: Sequence[str]
    config: EvalConfig
    labels_generated: list[tuple[float, ...]] | None = None
    labels_reference: list[tuple[float, ...]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    paths: ModelPaths = field(default_factory=ModelPaths)
    """Where model-based families find their local weights."""

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per evaluation: families that share a part (RadCliQ's BERTScore) reuse it."""
        if key not in self.extra:
            self.extra[key] = compute()
        return self.extra[key]


class MetricFamily(ABC):
    """One metric family; ``keys`` are the corpus figures it reports (all higher-is-better here)."""

    keys: ClassVar[tuple[str, ...]] = ()
    higher_is_better: ClassVar[bool] = True
    clinical: ClassVar[bool] = False
    """True if it needs labels (skipped when evaluate(..., clinical=False))."""
    on_request: ClassVar[bool] = False
    """True for families that need model weights: they run when named, never by default in a run."""

    @classmethod
    def unavailable(cls, paths: ModelPaths) -> str | None:
        """Why this family cannot run here (a missing package or weights, and where to put them), or None."""
        return None

    @abstractmethod
    def compute(self, data: EvalInput) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """(corpus figures, per-example stats dicts)."""


METRICS: Registry[type[MetricFamily]] = Registry("metric", "mtlbench.metrics", check=require_subclass(MetricFamily))


@METRICS.register("bleu")
class Bleu(MetricFamily):
    """BLEU-1..4 (pycocoevalcap, closest reference length); per example its n-gram matches and lengths."""

    keys = ("BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4")

    def compute(self, data: EvalInput) -> tuple[dict[str, float], list[dict[str, Any]]]:
        stats = nlg.bleu_stats(data.predictions, data.references)
        corpus = {f"BLEU_{n}": nlg.bleu_from_stats(stats, n) for n in (1, 2, 3, 4)}
        return corpus, [{"bleu": s} for s in stats]


@METRICS.register("rouge")
class RougeL(MetricFamily):
    """ROUGE-L (pycocoevalcap, beta 1.2): a mean of per-example scores, stored per example."""

    keys = ("ROUGE_L",)

    def compute(self, data: EvalInput) -> tuple[dict[str, float], list[dict[str, Any]]]:
        scores = nlg.rouge_l(data.predictions, data.references)
        return {"ROUGE_L": float(np.mean(scores)) if scores else 0.0}, [{"rouge_l": s} for s in scores]


@METRICS.register("cider")
class CiderD(MetricFamily):
    """CIDEr-D (pycocoevalcap) with document frequencies from the test references; per-example scores."""

    keys = ("CIDEr",)

    def compute(self, data: EvalInput) -> tuple[dict[str, float], list[dict[str, Any]]]:
        scores = nlg.cider_d(data.predictions, data.references)
        return {"CIDEr": float(np.mean(scores)) if scores else 0.0}, [{"cider": s} for s in scores]


@METRICS.register("meteor")
class Meteor(MetricFamily):
    """METEOR 1.5 (pycocoevalcap's jar, one Java process per evaluation); per example its alignment statistics."""

    keys = ("METEOR",)

    @classmethod
    def unavailable(cls, paths: ModelPaths) -> str | None:
        return None if shutil.which("java") else "needs Java 8 or later on the PATH (METEOR 1.5 is a jar)"

    def compute(self, data: EvalInput) -> tuple[dict[str, float], list[dict[str, Any]]]:
        corpus, segments, stats = meteor(data.predictions, data.references)
        rows = [{"meteor": s, "meteor_stats": [float(v) for v in line.split()]} for s, line in zip(segments, stats)]
        return {"METEOR": corpus}, rows


@METRICS.register("ce")
class ClinicalEfficacy(MetricFamily):
    """Clinical efficacy: P/R/F1 (micro, macro, example-based, 5-label micro) of labels; TP/FP/FN per example."""

    keys = (
        "CE_P_micro",
        "CE_R_micro",
        "CE_F1_micro",
        "CE_P_macro",
        "CE_R_macro",
        "CE_F1_macro",
        "CE_P_example",
        "CE_R_example",
        "CE_F1_example",
        "CE_F1_micro5",
    )
    clinical = True

    def compute(self, data: EvalInput) -> tuple[dict[str, float], list[dict[str, Any]]]:
        assert data.labels_generated is not None and data.labels_reference is not None
        generated = to_binary(data.labels_generated, data.config.uncertain)
        reference = to_binary(data.labels_reference, data.config.uncertain)
        corpus, per_label = ce_scores(generated, reference)
        data.extra["per_label"] = per_label
        return corpus, [{} for _ in data.ids]
