"""Linear scalarization with tuned task weights: the "well-chosen static weights" baseline."""

from __future__ import annotations

from mtlbench.methods.base import METHODS
from mtlbench.methods.hparams import Dimension, space
from mtlbench.methods.linear import LinearScalarization


@METHODS.register("ls-tuned", aliases=("ls_tuned", "tuned-ls"))
class TunedLinearScalarization(LinearScalarization):
    """``ls`` whose task weights are tuned under the grid's ``--tune`` budget, as its own row.

    A 2025 benchmark study (Gama & Grassi, arXiv 2505.10347) finds well-chosen fixed weights
    competitive with specialised MTL methods, so every tuned leaderboard asks "does any method
    beat tuned static weights?": with ``--tune N`` and ``ls`` in the grid, the grid adds this row
    (:func:`mtlbench.runner.grid.expand`). Its N trials search the learning rate and the task
    weights (1 for the first task, log-uniform in [0.1, 10] for each other one), trial 0 being
    equal weights; chosen on validation like every method's (:mod:`mtlbench.runner.tuning`); the
    chosen weights are in each run's config. Untuned it IS ``ls``, so a grid without ``--tune``
    refuses it rather than run ``ls`` twice under two names.
    """

    search_space = space(weights=Dimension("weights", 0.1, 10.0))
