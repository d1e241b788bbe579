"""Frozen evaluation settings: how generated reports are scored, part of a run's identity."""

from __future__ import annotations

from dataclasses import dataclass

from mtlbench.chexpert import UNCERTAIN_POLICIES
from mtlbench.settings_checks import check_setting, check_setting_types


@dataclass(frozen=True)
class EvalConfig:
    """How generated reports are scored."""

    labeler: str = "rules"
    uncertain: str = "positive"
    """CheXpert 'uncertain' counted as positive (f1chexbert, CAME-Grad) or negative (R2GenCMN)."""
    meteor: bool = True

    def __post_init__(self) -> None:
        check_setting_types(self, "eval")
        check_setting(
            "eval", "uncertain", self.uncertain, self.uncertain in UNCERTAIN_POLICIES, " or ".join(UNCERTAIN_POLICIES)
        )
