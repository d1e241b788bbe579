"""Multi-stage cooperative training: a schedule that trains the tasks in stages.

From the seed paper on chest X-ray with gaze supervision (no code released): tasks are
learned one stage after another, and what earlier stages trained is frozen afterwards. Here
a stage is a set of tasks trained by their plain summed loss (weights 1 for the stage's
tasks, 0 for the others, one backward pass); parameters of tasks outside the current stage
are frozen (no ``.grad``, so AdamW leaves them untouched, weight decay included), and with
``freeze_shared`` the shared trunk is frozen after the first stage. The default for the
report + classification pair, ``stages=("cls", "report")``, first learns visual features
from the CheXpert labels, then the report decoder on top of them. It is a schedule rather
than a per-step rule: the training loop drives it through ``set_task_names``, ``start_epoch``
and ``frozen_groups``. On a lone matrix, ``combine("staged", G, losses, task_names=[...],
stage=s)`` gives stage ``s``'s update (the rows of the stage's tasks summed); what it freezes
is the loop's business.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mtlbench.errors import MtlbenchError
from mtlbench.methods.base import METHODS, LossWeightingMethod
from mtlbench.methods.hparams import Described, Flag, rules


@METHODS.register("staged", aliases=("multi-stage",))
class Staged(LossWeightingMethod):
    """Multi-stage cooperative training: the tasks learned stage by stage, earlier parts frozen.

    Trains ``stages`` in order for ``epochs`` epochs each (default: an even split of the run's
    epochs); see the module docstring for what is frozen when. Its weights do not depend on
    the loss values, only on the task names (``set_task_names``, or ``task_names`` on a lone matrix).
    """

    needs_losses = False
    paper = "the seed paper's multi-stage cooperative learning on chest X-rays with gaze supervision"
    code = "none released; mtlbench's reading of the paper (see the module docstring)"
    hparam_rules = rules(
        stages=Described("task lists in training order, e.g. ['cls', 'report'] or 'cls>report'"),
        epochs=Described("one positive epoch count per stage; None: an even split of the run's epochs"),
        freeze_shared=Flag(),
        task_names=Described("the tasks in row order, for a lone matrix (the trainer sets them)"),
        stage=Described("the stage index, for a lone matrix (the trainer sets it each epoch)"),
    )

    def __init__(
        self,
        *,
        stages: Sequence[str] = ("cls", "report"),
        epochs: Sequence[int] | None = None,
        freeze_shared: bool = True,
        task_names: Sequence[str] | None = None,
        stage: int = 0,
    ) -> None:
        if isinstance(stages, str):
            stages = stages.split(">")
        self.stages = tuple(frozenset(t.strip() for t in s.split(",") if t.strip()) for s in stages)
        if not self.stages or not all(self.stages):
            raise MtlbenchError(f"staged: stages must be non-empty task lists such as ['cls', 'report']; got {stages}")
        if epochs is not None and (len(epochs) != len(self.stages) or min(epochs) < 1):
            raise MtlbenchError(f"staged: give one positive epoch count per stage ({len(self.stages)}); got {epochs}")
        self.epochs = tuple(int(e) for e in epochs) if epochs is not None else None
        self.check_hparams(freeze_shared=freeze_shared)
        self.freeze_shared = freeze_shared
        if not isinstance(stage, int) or not 0 <= stage < len(self.stages):
            raise MtlbenchError(f"staged: stage must be an index in [0, {len(self.stages) - 1}]; got {stage!r}")
        self.task_names: tuple[str, ...] = ()
        self.stage = stage
        if task_names is not None:
            self.set_task_names(task_names)

    def set_task_names(self, names: Sequence[str]) -> None:
        """Bind the schedule to the model's tasks; every task must be trained in some stage."""
        named = set().union(*self.stages)
        if named - set(names) or set(names) - named:
            raise MtlbenchError(
                f"staged: stages name tasks {sorted(named)} but the model trains {list(names)}; "
                "name every task of the run, e.g. --tasks report,cls with stages ['cls', 'report']"
            )
        self.task_names = tuple(names)

    def stage_of(self, epoch: int, total_epochs: int) -> int:
        """Which stage ``epoch`` belongs to; a schedule that does not fit the run is an error.

        Silently skipping a stage would leave what it trains untrained (the trunk, when the
        first stage is skipped and ``freeze_shared`` freezes it afterwards).
        """
        n = len(self.stages)
        if self.epochs is not None:
            if sum(self.epochs) > total_epochs:
                raise MtlbenchError(
                    f"staged: stage epochs {list(self.epochs)} add up to {sum(self.epochs)} but the run trains "
                    f"{total_epochs}; shorten them or raise --epochs"
                )
            bounds = torch.tensor(self.epochs).cumsum(0).tolist()
        else:
            if total_epochs < n:
                raise MtlbenchError(
                    f"staged: {n} stages need at least {n} epochs (one each) but the run trains {total_epochs}; "
                    "raise --epochs"
                )
            bounds = [round(total_epochs * (s + 1) / n) for s in range(n)]
        return next((s for s, end in enumerate(bounds) if epoch < end), n - 1)

    def start_epoch(self, epoch: int, total_epochs: int) -> None:
        self.stage = self.stage_of(epoch, total_epochs)

    def frozen_groups(self) -> tuple[str, ...]:
        """Parameter groups ("shared" or a task name) that receive no update in this stage."""
        active = self.stages[self.stage]
        frozen = [t for t in self.task_names if t not in active]
        if self.freeze_shared and self.stage > 0:
            frozen.append("shared")
        return tuple(frozen)

    def loss_weights(self, losses: Tensor) -> Tensor:
        if not self.task_names:
            raise MtlbenchError(
                "staged is a training schedule: it needs the task names; pass task_names=[...] (in the rows' order)"
            )
        active = self.stages[self.stage]
        return torch.tensor([float(t in active) for t in self.task_names], dtype=losses.dtype, device=losses.device)
