"""The real datasets: IU X-Ray and MIMIC-CXR in R2Gen's preprocessed layout."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

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

    def __init__(self, labels_csv: str | None = None) -> None:
        """``labels_csv``: MIMIC-CXR-JPG's chexpert or negbio CSV, joined on study_id where the
        annotation has no labels of its own (``--data-opt mimic.labels_csv=PATH``)."""
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
    """IU X-Ray (Open-I), 2 views per study, R2Gen's 70/10/20 split (threshold 3, length 60)."""

    settings = DatasetSettings(cleaning="iu_xray", threshold=3, max_seq_length=60, num_views=2)
    folder_names = ("iu_xray", "iu")
    obtain = "get it from Open-I or R2Gen's preprocessed release (annotation.json + images)"


@DATASETS.register("mimic_cxr", aliases=("mimic",))
class MimicCXR(_R2GenSource):
    """MIMIC-CXR (JPG), first image of each study, R2Gen's settings (threshold 10, length 100)."""

    settings = DatasetSettings(cleaning="mimic_cxr", threshold=10, max_seq_length=100, num_views=1)
    folder_names = ("mimic_cxr", "mimic")
    obtain = "credentialed access on PhysioNet: MIMIC-CXR-JPG, with R2Gen's annotation.json"
