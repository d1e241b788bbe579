"""Settings of the synthetic chest X-ray set: part of its identity (and of its cache key)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from mtlbench.errors import MtlbenchError

VERSION = "4"
"""Bumped whenever the generator's output changes, so stale caches are never reused."""


@dataclass(frozen=True)
class SyntheticConfig:
    """How many studies, how large, and how noisy the readers are.

    The defaults size the embedded benchmark for 2 CPU cores: 480 training studies, images drawn
    at 128 px and read at the runs' resolution (64 px by default, where every finding still has a
    visible sign). ``label_noise`` is the chance that the report's reader disagrees with the
    images on a finding (misses it, or reads one that is not there); the stored labels follow the
    report, so a text labeler agrees with them and the noise is between images and text.
    """

    seed: int = 0
    n_train: int = 480
    n_val: int = 60
    n_test: int = 120
    image_size: int = 128
    label_noise: float = 0.0
    uncertain_rate: float = 0.15
    """Share of present findings the reader hedges on ("possible", "cannot exclude")."""

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 2**32:
            raise MtlbenchError(f"synthetic: seed must be in [0, 2**32); got {self.seed}")
        for name in ("n_train", "n_val", "n_test"):
            if getattr(self, name) < 1:
                raise MtlbenchError(f"synthetic: {name} must be at least 1; got {getattr(self, name)}")
        if self.image_size < 32:
            raise MtlbenchError(f"synthetic: image_size must be at least 32; got {self.image_size}")
        for name in ("label_noise", "uncertain_rate"):
            if not 0.0 <= getattr(self, name) <= 0.5:
                raise MtlbenchError(f"synthetic: {name} must be in [0, 0.5]; got {getattr(self, name)}")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> SyntheticConfig:
        """Build from command-line style options (strings or numbers), with one-line errors."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise MtlbenchError(f"synthetic: unknown option(s) {unknown}; valid: {', '.join(fields)}")
        values = {}
        for name, raw in options.items():
            kind = int if isinstance(cls.__dataclass_fields__[name].default, int) else float
            try:
                values[name] = kind(raw)
            except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
                raise MtlbenchError(f"synthetic: option {name} must be a {kind.__name__}; got {raw!r}"[:200]) from None
        return cls(**values)

    def key(self) -> str:
        """A folder name for this configuration: version plus a hash of every field."""
        digest = hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:12]
        return f"v{VERSION}-{digest}"
