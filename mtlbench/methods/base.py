"""The contract every MTL method fulfils, and the registry that holds them.

A *gradient method* sees the K x P matrix of per-task gradients over the shared
parameters (and the K losses) and returns the P-vector to apply. A *loss-weighting
method* returns K weights from the losses alone, so the engine needs one backward pass.

Per training step the engine drives a method like this (hooks default to no-ops)::

    method.setup(K)                          # once, before the optimiser collects extra_parameters()
    # gradient method (uses_task_gradients):
    w = method.reuse_weights(losses)         # weights to reuse (Nash-MTL's update period) or None;
                                             # with weights: one backward pass of sum_i w_i L_i
    agg = method.aggregate(G, losses)        # otherwise: G [K, P], rows w.r.t. `gradient_source`
    # loss-weighting method:
    total = method.weighted_loss(losses)     # exactly once per step; total.backward()
    optimizer.step()
    method.observe(losses_after_step)        # FAMO: the same batch's losses AFTER the step
    method.end_epoch()                       # DWA: after the last step of every epoch

A step with one backward pass (loss weighting, reused weights) has its shared gradient clipped
to ``method.max_norm`` when that is > 0, as ``aggregate`` clips the direction it returns.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from mtlbench.errors import MtlbenchError
from mtlbench.registry import Registry, require_subclass

GradientSource = Literal["parameters", "representation"]

LOGGER = logging.getLogger("mtlbench.methods")


@dataclass
class Aggregation:
    """What a method decided in one step: the update direction and why."""

    direction: Tensor
    """[P] update for the shared parameters (a descent direction's gradient, applied as .grad)."""
    weights: Tensor | None = None
    """[K] effective task weights, when the method's direction is a weighted sum of the rows."""
    info: dict[str, Any] = field(default_factory=dict)
    """Method-specific diagnostics (floats or short lists), written to the training log."""


class Method(ABC):
    """Base of all MTL methods. Hyper-parameters are keyword-only ``__init__`` arguments."""

    uses_task_gradients: ClassVar[bool] = True
    """False for loss-weighting methods: the engine then does one backward pass of ``weighted_loss``."""

    gradient_source: ClassVar[GradientSource] = "parameters"
    """Which per-task gradients ``aggregate`` expects as rows of ``grads``.

    ``"parameters"``: d L_i / d theta_shared, flattened; the returned direction is written to the
    shared parameters' ``.grad``. ``"representation"`` (MGDA-UB): d L_i / d z for the shared
    representation z (the trunk's output for the whole batch, flattened), which costs one backward
    through the heads only; the direction then lives in z-space and means nothing for the
    parameters, so the engine must backpropagate ``sum_i weights_i * L_i`` (``Aggregation.weights``)
    through the whole model in one pass instead.
    """

    registered_name: ClassVar[str] = ""

    max_norm: float = 0.0
    """Cap on the norm of the shared update (0: none). Nash-MTL's and FAMO's official code clip the
    shared parameters' gradient to it after the backward pass. ``aggregate`` applies it to its
    direction; the engine applies it after a step that has one backward pass (loss weighting,
    reused weights), where no direction is formed."""

    def setup(self, n_tasks: int) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Called once by the engine with the number of tasks, before ``extra_parameters()``.

        Methods that own per-task learnable parameters (UW) allocate them here, so the optimiser
        can be built before the first step.
        """

    def reset(self) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Forget any state carried between steps (EMA targets, previous losses, cached weights)."""

    def extra_parameters(self) -> list[torch.nn.Parameter]:
        """Learnable parameters the method owns (e.g. uncertainty weights); the optimiser trains them."""
        return []

    def observe(self, losses: Tensor) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Called after every ``optimizer.step()`` with the K task losses of the step's batch
        re-evaluated AFTER the step (FAMO learns from the decrease). No-op unless overridden."""

    def end_epoch(self, mean_losses: Tensor | None = None) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Called after the last step of every epoch. ``mean_losses`` [K]: the epoch's mean training
        losses; when omitted, a method that needs them (DWA) uses the losses it saw this epoch."""

    def reuse_weights(self, losses: Tensor) -> Tensor | None:
        """[K] task weights to apply this step WITHOUT per-task gradients, or None to ask for them.

        Called by the engine once per step before it takes the K backward passes. A method with
        its own update period (Nash-MTL's ``update_weights_every``) answers with its last weights
        on the steps in between and counts the step as taken, so the engine does one backward
        pass of ``sum_i w_i L_i`` instead of K. The default never reuses.
        """
        return None

    @abstractmethod
    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        """Combine the per-task gradient matrix ``grads`` [K, P] into one update [P]."""


class LossWeightingMethod(Method):
    """A method that only re-weights the task losses."""

    uses_task_gradients: ClassVar[bool] = False
    needs_losses: ClassVar[bool] = True
    """False when the weights ignore the loss values (ls): then ``aggregate`` works without losses."""

    @abstractmethod
    def loss_weights(self, losses: Tensor) -> Tensor:
        """K weights for the (detached) task losses of this step.

        Must not advance the method's state: the engine may call it again after
        ``weighted_loss`` to log the weights, and it must then return the same weights.
        """

    def weighted_loss(self, losses: Tensor) -> Tensor:
        """The scalar to backpropagate this step; called exactly once per training step.

        It may advance per-step state (RLW draws its weights here, DWA and FAMO record the
        losses). The default is ``sum_i w_i L_i`` with the weights of ``loss_weights``; UW adds
        its regulariser, which needs the graph of its own log-variances.
        """
        weights = self.loss_weights(losses.detach()).to(losses.dtype)
        return (weights * losses).sum()

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        """The gradient of ``weighted_loss`` over the shared parameters: ``weights @ grads``."""
        if losses is None and not self.needs_losses:
            losses = torch.zeros(grads.shape[0], dtype=grads.dtype, device=grads.device)
        if losses is None:
            raise MtlbenchError(f"{type(self).__name__} weights task losses: pass losses= (a [K] tensor)")
        check_inputs(grads, losses)
        weights = self.loss_weights(losses.detach()).to(device=grads.device, dtype=grads.dtype)
        direction, clip = clip_to_norm(weights @ grads, self.max_norm)
        info = {"clip_scale": clip} if self.max_norm > 0 else {}
        return Aggregation(direction=direction, weights=weights * clip, info=info)


METHODS: Registry[type[Method]] = Registry("method", "mtlbench.methods", check=require_subclass(Method))


def check_inputs(grads: Tensor, losses: Tensor | None = None) -> int:
    """Validate the shapes a method receives; returns K."""
    if not isinstance(grads, Tensor) or grads.dim() != 2 or not grads.is_floating_point():
        shape = tuple(grads.shape) if isinstance(grads, Tensor) else type(grads).__name__
        raise MtlbenchError(f"grads must be a floating [K, P] tensor of per-task gradients, got {shape}")
    k = grads.shape[0]
    if k == 0:
        raise MtlbenchError("grads has no rows: a method needs at least one task gradient")
    if losses is not None and (not isinstance(losses, Tensor) or tuple(losses.shape) != (k,)):
        shape = tuple(losses.shape) if isinstance(losses, Tensor) else type(losses).__name__
        raise MtlbenchError(f"losses must be a [K] = [{k}] tensor matching grads, got {shape}")
    return k


def non_finite(grads: Tensor, gram: Tensor) -> Aggregation | None:
    """A NaN update when the gradients hold NaN or inf (None when they are finite).

    Under fp16 mixed precision the first steps often overflow; ``GradScaler`` then skips the step
    and lowers its scale, so a method must pass the non-finite values on, not fail in a solver.
    Without a scaler the NaN reaches the parameters and the run is reported as diverged.
    """
    if bool(torch.isfinite(gram).all()):
        return None
    k, p = grads.shape
    nan = math.nan
    return Aggregation(
        direction=torch.full((p,), nan, dtype=grads.dtype, device=grads.device),
        weights=torch.full((k,), nan, dtype=grads.dtype, device=grads.device),
        info={"non_finite": 1.0},
    )


def clip_to_norm(direction: Tensor, max_norm: float) -> tuple[Tensor, float]:
    """``direction`` scaled down to norm ``max_norm`` when longer (0: no cap), and the factor used."""
    if max_norm <= 0:
        return direction, 1.0
    norm = float(torch.linalg.vector_norm(direction, dtype=torch.float64))
    if not math.isfinite(norm) or norm <= max_norm:  # NaN/inf: the step is diverging, let it show
        return direction, 1.0
    scale = max_norm / norm
    return direction * scale, scale


def log_fallback(method: str, reason: str, fallback: str) -> None:
    """Say once per occurrence, in the Python log, that a solver failed and a fallback was used.

    The same fact is in the step's ``info["fallback"]`` (training log, metrics summary); this line
    makes it visible to a user watching the console.
    """
    LOGGER.warning("%s: %s; falling back to %s for this step", method, reason, fallback)


def check_choice(method: str, name: str, value: object, choices: Iterable[object]) -> None:
    """Reject a hyper-parameter outside its allowed values with one clear line."""
    options = tuple(choices)
    if value not in options:
        raise MtlbenchError(f"{method}: {name} must be one of {', '.join(map(repr, options))}; got {value!r}")


def check_range(
    method: str, name: str, value: float, *, low: float | None = None, high: float | None = None, strict: bool = False
) -> None:
    """Reject a numeric hyper-parameter outside [low, high] (or (low, high) when ``strict``)."""
    bad = not isinstance(value, (int, float)) or value != value  # NaN
    if not bad and low is not None:
        bad = value <= low if strict else value < low
    if not bad and high is not None:
        bad = value >= high if strict else value > high
    if bad:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"({lo}, {hi})" if strict else f"[{lo}, {hi}]"
        raise MtlbenchError(f"{method}: {name} must be a number in {interval}; got {value!r}")
