"""Example mtlbench plugins: gradient methods that live outside the mtlbench source tree.

Both are written against the documented base class (:class:`mtlbench.methods.Method`) alone:
``UnitSum`` is stateless; ``RunningMeanNorms`` keeps state across steps, declares it in
``state_attributes``, and so resumes exactly after a kill.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbench.methods import Aggregation, Method


class UnitSum(Method):
    """Sum of unit-length task gradients, rescaled to their mean norm (every task pulls equally)."""

    paper = "an example plugin (no paper)"
    code = "tests/plugins/example_plugin in the mtlbench repository"

    def __init__(self, *, eps: float = 1e-12) -> None:
        self.eps = eps

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        norms = grads.double().norm(dim=1).clamp_min(self.eps)
        weights = norms.mean() / norms
        return Aggregation(
            direction=weights.to(grads.dtype) @ grads,
            weights=weights.to(grads.dtype),
            info={"mean_norm": float(norms.mean())},
        )


class RunningMeanNorms(Method):
    """Each task gradient divided by the running mean of its norm (bias-corrected EMA, as Adam's).

    A stateful example: the running means and the step count change every step and are named in
    ``state_attributes``, so the trainer saves them with each checkpoint and a killed run goes on
    with exactly the numbers of an uninterrupted one.
    """

    paper = "an example plugin (no paper)"
    code = "tests/plugins/example_plugin in the mtlbench repository"
    state_attributes = ("mean_norms", "steps")

    def __init__(self, *, momentum: float = 0.9, eps: float = 1e-12) -> None:
        self.momentum = momentum
        self.eps = eps
        self.mean_norms: Tensor | None = None
        self.steps = 0

    def setup(self, n_tasks: int) -> None:
        self.mean_norms = torch.zeros(n_tasks, dtype=torch.float64)
        self.steps = 0

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        if self.mean_norms is None or self.mean_norms.shape[0] != grads.shape[0]:
            self.setup(grads.shape[0])
        assert self.mean_norms is not None
        norms = grads.double().norm(dim=1)
        self.steps += 1
        self.mean_norms = self.momentum * self.mean_norms + (1 - self.momentum) * norms
        unbiased = self.mean_norms / (1 - self.momentum**self.steps)
        weights = (1 / unbiased.clamp_min(self.eps)).to(grads.dtype)
        return Aggregation(direction=weights @ grads, weights=weights, info={"steps": float(self.steps)})

    def reset(self) -> None:
        if self.mean_norms is not None:
            self.setup(self.mean_norms.shape[0])
