"""Single-task learning: each task trained alone, the reference of the MTL literature's Delta_m%."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mtlbench.errors import MtlbenchError
from mtlbench.methods.base import METHODS, LossWeightingMethod
from mtlbench.methods.hparams import Described, rules


@METHODS.register("stl", aliases=("single-task",))
class SingleTask(LossWeightingMethod):
    """Single-task learning (STL): the backbone trained on ``task`` alone, its plain loss.

    How a grid runs it (:func:`mtlbench.runner.grid.expand`): ``--methods stl`` with ``--tasks
    report,cls`` makes, per seed, one run per task, ``stl`` with ``task="report"`` and ``task="cls"``;
    each keeps the grid's task list in its spec (the cell it is a baseline for) and trains a model
    built with that one task: the report-only model is the plain report generator, the cls-only
    model a classifier on the same trunk (selected on its validation loss: it writes no report),
    the align-only model a retrieval model. The leaderboard joins the runs of one seed into ONE
    row, ``stl``, whose report metrics come from the report-only run and whose cls metrics come
    from the cls-only run (:mod:`mtlbench.stats.loading`), as LibMTL's ``count_improvement`` and
    Maninis et al. (2019) take each task's single-task model as the reference of Delta_m%
    (``mtlbench report --reference stl``).

    As a method it weights the one task it trains by 1: on a lone matrix, the row of ``task``
    among ``task_names`` (or the only row).
    """

    needs_losses = False
    paper = "single-task baselines, the reference of Delta_m% (Maninis et al., CVPR 2019; LibMTL)"
    code = "LibMTL's count_improvement against single-task results"
    hparam_rules = rules(
        task=Described("the one task trained: report, cls or align (a plugin backbone's own task names too)"),
        task_names=Described("the tasks in row order, for a lone matrix (the trainer sets them)"),
    )

    def __init__(self, *, task: str = "report", task_names: Sequence[str] | None = None) -> None:
        if not isinstance(task, str) or not task:
            raise MtlbenchError(f"stl: task must name the one task to train, e.g. 'report' or 'cls'; got {task!r}")
        self.task = task
        self.task_names: tuple[str, ...] = ()
        if task_names is not None:
            self.set_task_names(task_names)

    def set_task_names(self, names: Sequence[str]) -> None:
        if self.task not in names:
            raise MtlbenchError(f"stl trains task {self.task!r} alone but the model has tasks {list(names)}")
        self.task_names = tuple(names)

    def loss_weights(self, losses: Tensor) -> Tensor:
        k = losses.shape[0]
        if self.task_names:
            weights = [float(t == self.task) for t in self.task_names]
            return torch.tensor(weights, dtype=losses.dtype, device=losses.device)
        if k != 1:
            raise MtlbenchError(
                f"stl trains one task: give task_names=[...] to pick {self.task!r} among {k} rows, or pass one row"
            )
        return torch.ones(1, dtype=losses.dtype, device=losses.device)
