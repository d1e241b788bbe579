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
    metrics: tuple[str, ...] = ()
    """Extra metric families a run computes on its test outputs (model-based ones: "bertscore",
    "radgraph", ...; the NLG metrics and CE are always computed). Sorted, so their order does not
    change a run's id; absent from the id when empty, so ids of earlier runs stay valid. Their
    weights come from a models folder, a path outside the id."""

    def __post_init__(self) -> None:
        metrics = self.metrics.split(",") if isinstance(self.metrics, str) else self.metrics
        if isinstance(metrics, list | tuple) and all(isinstance(m, str) for m in metrics):
            object.__setattr__(self, "metrics", tuple(sorted({m.strip() for m in metrics if m.strip()})))
        check_setting_types(self, "eval")
        check_setting(
            "eval", "uncertain", self.uncertain, self.uncertain in UNCERTAIN_POLICIES, " or ".join(UNCERTAIN_POLICIES)
        )
