"""Dataset sources: where a dataset lives and the R2Gen settings that go with it."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mtlbench.data.schema import Annotation
from mtlbench.errors import DataError
from mtlbench.registry import Registry, require_subclass

DATA_ROOT_ENV = "MTLBENCH_DATA"
"""Environment variable naming the folder that holds one sub-folder per dataset."""


@dataclass(frozen=True)
class DatasetSettings:
    """Per-dataset conventions of R2Gen: cleaning, vocabulary threshold, lengths, views."""

    cleaning: str = "iu_xray"
    threshold: int = 3
    max_seq_length: int = 60
    num_views: int | None = 2
    """Most images used per study (the first ones of its ``image_path``); None = all of them, i.e.
    as many as the study with the most images has (see :meth:`DatasetSource.views_per_study`)."""


class DatasetSource(ABC):
    """Finds a dataset on disk (or makes it) and reads it into an :class:`Annotation`."""

    registered_name: ClassVar[str] = ""
    settings: DatasetSettings = DatasetSettings()
    """The dataset's conventions; a class default that an instance may narrow from its options."""

    @classmethod
    def identity_options(cls) -> dict[str, Any]:
        """Options that pin what this source produces (a generator's version), added to every
        run's ``data_options`` so that run ids change when the data would. Real datasets: none."""
        return {}

    @abstractmethod
    def locate(self, data_root: Path | None) -> Path:
        """The folder holding ``annotation.json`` and the images; raise DataError if absent."""

    @abstractmethod
    def load(self, data_root: Path | None) -> Annotation:
        """Read the dataset's splits."""

    def views_per_study(self, annotation: Annotation) -> int:
        """V: the most images any study of ``annotation`` (all splits) has, capped by
        ``settings.num_views``. The model is built for V views (its per-view embeddings) and a
        batch carries at most V view slots.

        Studies with fewer images are padded and masked, never filled with repeats. V depends
        only on the annotation and the options, so a rebuilt run gets the same model.
        """
        most = max((len(ex.image_paths) for split in annotation.splits.values() for ex in split), default=0)
        if most == 0:
            raise DataError(f"{annotation.name}: no study lists an image in 'image_path'; every study needs one")
        cap = self.settings.num_views
        return most if cap is None else min(most, cap)


def resolve_data_root(data_root: Path | str | None) -> Path | None:
    """The data root from the CLI option, else from $MTLBENCH_DATA, else None."""
    if data_root is not None:
        return Path(data_root).expanduser()
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env).expanduser() if env else None


DATASETS: Registry[type[DatasetSource]] = Registry(
    "dataset", "mtlbench.datasets", check=require_subclass(DatasetSource)
)
