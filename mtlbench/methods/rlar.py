"""RLAR: a representation-level adversarial regulariser that wraps any other method.

From the seed paper on thyroid ultrasound (no code released; the exact formula is not
published). mtlbench's reading of its description: for every task i take a_i = dL_i/dz, the
gradient of its loss w.r.t. the shared representation z, normalise it per sample, and
penalise excessive angular alignment between tasks,

    R = beta * mean over samples b and pairs i<j of max(0, cos(a_i[b], a_j[b]) - tau)^2,

added to the training objective (its gradient needs the graph of a_i: create_graph). The
combination of the task gradients themselves is left to the wrapped ``base`` method, so
RLAR composes with any of them (``base="pcgrad"`` etc.). Choices of ours, documented as
deviations: the squared hinge, per-sample normalisation over all of a sample's features, and
the defaults beta 0.1, tau 0.0. Why tau 0: a sample's representation gradients are
high-dimensional (4,096 numbers for the tiny transformer), so the per-sample cosines between
tasks stay near 0; measured on the default synthetic benchmark they lie within +-0.25, and a
threshold of 0.5 never fired (0 of 600 steps, the run equal to its base method to the last
digit). With tau 0 every positive alignment is penalised. The share of steps on which the
penalty acted is in each run's diagnostics (``penalty_active``). On a lone matrix
(``combine("rlar", G, base=...)``) it is its base method: the penalty needs the
representation, which only the engine has.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.errors import MtlbenchError
from mtlbench.methods.base import METHODS, Aggregation, Method, check_range

SCHEDULE_HOOKS = ("set_task_names", "start_epoch", "frozen_groups")


@METHODS.register("rlar")
class RLAR(Method):
    """RLAR, a representation-level alignment regulariser (reconstructed formula) on top of any method.

    Wraps ``base`` (any registered method, hyper-parameters passed through) and adds
    beta * mean max(0, cos(a_i, a_j) - tau)^2 over the per-sample task gradients a_i at the shared
    representation (see the module docstring for the reading of the seed paper).
    """

    def __init__(self, *, base: str = "ls", beta: float = 0.1, tau: float = 0.0, **base_params: Any) -> None:
        check_range("rlar", "beta", beta, low=0.0)
        check_range("rlar", "tau", tau, low=-1.0, high=1.0)
        if METHODS.canonical(base) == "rlar":
            raise MtlbenchError("rlar: base must be another method (e.g. base='pcgrad'), not rlar itself")
        self.inner = METHODS.get(base)(**base_params)
        self.base = base
        self.beta = float(beta)
        self.tau = float(tau)
        self.uses_task_gradients = self.inner.uses_task_gradients  # type: ignore[misc]
        self.gradient_source = self.inner.gradient_source  # type: ignore[misc]
        self.max_norm = self.inner.max_norm

    def representation_penalty(self, task_grads: list[Tensor]) -> Tensor:
        """The penalty R from the per-task gradients w.r.t. z (each [B, ...], built with create_graph)."""
        flat = [g.reshape(g.shape[0], -1) for g in task_grads]
        k = len(flat)
        if k < 2:
            return flat[0].sum() * 0.0
        units = [f / f.norm(dim=1, keepdim=True).clamp_min(1e-12) for f in flat]
        terms = [
            torch.relu((units[i] * units[j]).sum(dim=1) - self.tau).pow(2) for i in range(k) for j in range(i + 1, k)
        ]
        return self.beta * torch.stack(terms).mean()

    # everything else is the wrapped method's
    def __getattr__(self, name: str) -> Any:
        """A schedule's hooks (staged: set_task_names, start_epoch, frozen_groups) are the base's."""
        inner = self.__dict__.get("inner")
        if name in SCHEDULE_HOOKS and inner is not None:
            return getattr(inner, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def setup(self, n_tasks: int) -> None:
        self.inner.setup(n_tasks)

    def reset(self) -> None:
        self.inner.reset()

    def extra_parameters(self) -> list[torch.nn.Parameter]:
        return self.inner.extra_parameters()

    def observe(self, losses: Tensor) -> None:
        self.inner.observe(losses)

    def end_epoch(self, mean_losses: Tensor | None = None) -> None:
        self.inner.end_epoch(mean_losses)

    def reuse_weights(self, losses: Tensor) -> Tensor | None:
        return self.inner.reuse_weights(losses)

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        return self.inner.aggregate(grads, losses)

    def loss_weights(self, losses: Tensor) -> Tensor:
        return self.inner.loss_weights(losses)  # type: ignore[attr-defined]

    def weighted_loss(self, losses: Tensor) -> Tensor:
        return self.inner.weighted_loss(losses)  # type: ignore[attr-defined]
