"""Datasets: R2Gen-style readers, cleaning and tokenizer, labels, images, the synthetic set."""

from mtlbench.data import real, synthetic  # noqa: F401  (register the built-in sources)
from mtlbench.data.annotation import load_annotation
from mtlbench.data.check import CheckReport, check_dataset
from mtlbench.data.cleaning import clean_report
from mtlbench.data.labels import attach_labels
from mtlbench.data.schema import CHEXPERT_LABELS, Annotation, Example
from mtlbench.data.sources import DATASETS, DatasetSettings, DatasetSource
from mtlbench.data.tokenizer import Tokenizer

__all__ = [
    "CHEXPERT_LABELS",
    "DATASETS",
    "Annotation",
    "CheckReport",
    "DatasetSettings",
    "DatasetSource",
    "Example",
    "Tokenizer",
    "attach_labels",
    "check_dataset",
    "clean_report",
    "load_annotation",
]
