"""Dataset sources: where a dataset lives and the R2Gen settings that go with it."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mtlbench.data.schema import Annotation
from mtlbench.registry import Registry, require_subclass

DATA_ROOT_ENV = "MTLBENCH_DATA"
"""Environment variable naming the folder that holds one sub-folder per dataset."""


@dataclass(frozen=True)
class DatasetSettings:
    """Per-dataset conventions of R2Gen: cleaning, vocabulary threshold, lengths, views."""

    cleaning: str = "iu_xray"
    threshold: int = 3
    max_seq_length: int = 60
    num_views: int = 2


class DatasetSource(ABC):
    """Finds a dataset on disk (or makes it) and reads it into an :class:`Annotation`."""

    registered_name: ClassVar[str] = ""
    settings: ClassVar[DatasetSettings] = DatasetSettings()

    @abstractmethod
    def locate(self, data_root: Path | None) -> Path:
        """The folder holding ``annotation.json`` and the images; raise DataError if absent."""

    @abstractmethod
    def load(self, data_root: Path | None) -> Annotation:
        """Read the dataset's splits."""


def resolve_data_root(data_root: Path | str | None) -> Path | None:
    """The data root from the CLI option, else from $MTLBENCH_DATA, else None."""
    if data_root is not None:
        return Path(data_root).expanduser()
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env).expanduser() if env else None


DATASETS: Registry[type[DatasetSource]] = Registry(
    "dataset", "mtlbench.datasets", check=require_subclass(DatasetSource)
)
