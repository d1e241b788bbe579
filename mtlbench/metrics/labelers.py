"""The registry of report labelers that clinical efficacy uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from mtlbench.errors import ContractError
from mtlbench.metrics.chexbert import CheXbertLabeler
from mtlbench.metrics.rules import RuleLabeler
from mtlbench.registry import Registry


class Labeler(Protocol):
    """Reads the 14 CheXpert observations in reports: codes 1, 0, -1 or NaN, CheXbert order."""

    description: str

    def label(self, reports: Sequence[str]) -> list[tuple[float, ...]]: ...


def _has_label(cls: Any) -> None:
    if not callable(getattr(cls, "label", None)) or not callable(getattr(cls, "from_config", None)):
        raise ContractError("a labeler needs label(reports) and a from_config(eval_config) classmethod")


LABELERS: Registry[Any] = Registry("labeler", "mtlbench.labelers", check=_has_label)
LABELERS.add("rules", RuleLabeler)
LABELERS.add("chexbert", CheXbertLabeler)
