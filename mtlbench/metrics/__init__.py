"""RRG metrics: NLG through pycocoevalcap, clinical efficacy through report labelers."""

from mtlbench.metrics import model_families  # noqa: F401  (registers BERTScore, SembScore, RadGraph, RadCliQ)
from mtlbench.metrics.evaluate import Evaluation, evaluate, family_status
from mtlbench.metrics.families import METRICS, MetricFamily
from mtlbench.metrics.labelers import LABELERS
from mtlbench.metrics.local_models import ModelPaths
from mtlbench.metrics.nlg import bleu_from_stats

__all__ = [
    "LABELERS",
    "METRICS",
    "Evaluation",
    "MetricFamily",
    "ModelPaths",
    "bleu_from_stats",
    "evaluate",
    "family_status",
]
