"""The real datasets: IU X-Ray and MIMIC-CXR in R2Gen's preprocessed layout.

Views: an IU X-Ray study has 1 to 5 images (frontal and lateral); all of them are used by
default, in the order of its ``image_path``, and V (the view slots per study) is the most images
any study of the annotation has. ``--data-opt iu.max_views=2`` caps that to the first two images,
R2Gen's exact two-view setting. MIMIC-CXR uses the first image of each study, as R2Gen
(``image_path[0]``); ``mimic.max_views=N`` opts into more. Studies with fewer images than V are
padded with empty slots that the backbone masks out: the backbone encodes each real image,
concatenates their patch sequences and lets the padding take no part in attention or pooling
(see :mod:`mtlbench.backbones.encoder_decoder`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from mtlbench.data.annotation import load_annotation
from mtlbench.data.check import check_dataset
from mtlbench.data.labels import attach_labels
from mtlbench.data.schema import Annotation
from mtlbench.data.sources import DATA_ROOT_ENV, DATASETS, DatasetSettings, DatasetSource
from mtlbench.errors import DataError


class _R2GenSource(DatasetSource):
    """``<data_root>/<name>/annotation.json`` plus ``images/``; checked before it is used."""

    folder_names: ClassVar[tuple[str, ...]] = ()
    obtain: ClassVar[str] = ""

    def __init__(self, labels_csv: str | None = None, max_views: int | None = None, **unknown: Any) -> None:
        """Options (``--data-opt NAME.KEY=VALUE``):

        * ``labels_csv``: MIMIC-CXR-JPG's chexpert or negbio CSV, joined on study_id where the
          annotation has no labels of its own (``mimic.labels_csv=PATH``);
        * ``max_views``: use at most this many images per study, the first of its ``image_path``
          (``iu.max_views=2`` is R2Gen's two-view IU setting).
        """
        name = self.registered_name
        if unknown:
            raise DataError(f"{name}: unknown data option {sorted(unknown)}; valid: labels_csv, max_views")
        if max_views is not None:
            if isinstance(max_views, bool) or not isinstance(max_views, int) or max_views < 1:
                raise DataError(f"{name}: data option max_views must be a positive integer; got {max_views!r}")
            self.settings = replace(type(self).settings, num_views=max_views)
        self.labels_csv = Path(labels_csv).expanduser() if labels_csv else None

    def locate(self, data_root: Path | None) -> Path:
        name = self.registered_name
        if data_root is None:
            raise DataError(
                f"{name}: no data root given; pass --data-root or set ${DATA_ROOT_ENV} to the folder holding "
                f"{name}/annotation.json and {name}/images/ ({self.obtain})"
            )
        for folder in self.folder_names:
            if (Path(data_root) / folder / "annotation.json").is_file():
                return Path(data_root) / folder
        looked = Path(data_root) / self.folder_names[0]
        raise DataError(
            f"{name}: no {looked}/annotation.json; expected {looked}/annotation.json and {looked}/images/... "
            f"in R2Gen's layout ({self.obtain})"
        )

    def load(self, data_root: Path | None) -> Annotation:
        """The checked annotation (training refuses a dataset that fails `mtlbench data check`),
        with the labels CSV joined in when one is configured."""
        folder = self.locate(data_root)
        report = check_dataset(folder, name=self.registered_name)
        if not report.ok:
            raise DataError(f"{self.registered_name} at {folder} fails its check: " + "; ".join(report.errors))
        annotation = load_annotation(folder / "annotation.json", name=self.registered_name)
        return attach_labels(annotation, csv_path=self.labels_csv) if self.labels_csv else annotation


@DATASETS.register("iu_xray", aliases=("iu",))
class IUXray(_R2GenSource):
    """IU X-Ray (Open-I), every image of a study (1-5 views), R2Gen's 70/10/20 split (threshold 3, length 60)."""

    settings = DatasetSettings(cleaning="iu_xray", threshold=3, max_seq_length=60, num_views=None)
    folder_names = ("iu_xray", "iu")
    obtain = (
        "images from Open-I, https://openi.nlm.nih.gov/faq#collection, or R2Gen's preprocessed iu_xray "
        "release (annotation.json + images) linked from https://github.com/cuhksz-nlp/R2Gen"
    )


@DATASETS.register("mimic_cxr", aliases=("mimic",))
class MimicCXR(_R2GenSource):
    """MIMIC-CXR (JPG), first image of each study, R2Gen's settings (threshold 10, length 100)."""

    settings = DatasetSettings(cleaning="mimic_cxr", threshold=10, max_seq_length=100, num_views=1)
    folder_names = ("mimic_cxr", "mimic")
    obtain = (
        "MIMIC-CXR-JPG needs credentialed access on PhysioNet, https://physionet.org/content/mimic-cxr-jpg/; "
        "R2Gen's annotation.json is linked from https://github.com/cuhksz-nlp/R2Gen"
    )
