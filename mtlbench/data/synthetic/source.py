"""The registered ``synthetic`` dataset: generated on first use into a cache, read like IU X-Ray."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from mtlbench.data.annotation import load_annotation
from mtlbench.data.cache import cache_root
from mtlbench.data.schema import Annotation
from mtlbench.data.sources import DATASETS, DatasetSettings, DatasetSource
from mtlbench.data.synthetic.config import VERSION, SyntheticConfig
from mtlbench.data.synthetic.generate import generate
from mtlbench.errors import DataError

VERSION_OPTION = "generator_version"
"""The data option that records which generator version a run's data came from."""

STALE_S = 24 * 3600
"""A generation folder this old was left by a killed process (generating takes seconds)."""


def _remove_stale(target: Path) -> None:
    for leftover in target.parent.glob(f".{target.name}-*"):
        try:
            if time.time() - leftover.stat().st_mtime > STALE_S:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass  # another process removed it first


@DATASETS.register("synthetic", aliases=("synth",))
class SyntheticSource(DatasetSource):
    """The embedded default: deterministic synthetic chest X-rays with radiology-style reports.

    Options (``--data-opt synthetic.KEY=VALUE``) are the fields of :class:`SyntheticConfig`.
    """

    settings = DatasetSettings(cleaning="iu_xray", threshold=3, max_seq_length=60, num_views=2)

    def __init__(self, config: SyntheticConfig | None = None, **options: Any) -> None:
        made_by = str(options.pop(VERSION_OPTION, VERSION))
        if made_by != VERSION:
            raise DataError(
                f"synthetic: these runs were made with synthetic generator v{made_by}, this mtlbench generates "
                f"v{VERSION}; run the grid into a new --results folder, or use the mtlbench release that made them"
            )
        if config is not None and options:
            raise TypeError("pass either a SyntheticConfig or options, not both")
        self.config = config or SyntheticConfig.from_options(options)

    @classmethod
    def identity_options(cls) -> dict[str, Any]:
        return {VERSION_OPTION: VERSION}

    def locate(self, data_root: Path | None = None) -> Path:
        """The cached copy of this configuration, generated first if absent.

        Generation goes to a temporary folder beside the target, renamed into place: several
        workers asking at once each may generate, one rename wins, the others discard theirs.
        """
        target = cache_root() / "synthetic" / self.config.key()
        if (target / "annotation.json").is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            generate(tmp, self.config)
            try:
                os.rename(tmp, target)
            except OSError:
                if not (target / "annotation.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    def load(self, data_root: Path | None = None) -> Annotation:
        return load_annotation(self.locate(data_root) / "annotation.json", name="synthetic")
