"""RRG metrics: NLG through pycocoevalcap, clinical efficacy through report labelers."""

from mtlbench.metrics.evaluate import Evaluation, evaluate
from mtlbench.metrics.families import METRICS, MetricFamily
from mtlbench.metrics.labelers import LABELERS
from mtlbench.metrics.nlg import bleu_from_stats

__all__ = ["LABELERS", "METRICS", "Evaluation", "MetricFamily", "bleu_from_stats", "evaluate"]
