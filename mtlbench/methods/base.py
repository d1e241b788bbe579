"""The contract every MTL method fulfils, and the registry that holds them.

:class:`Method` is the whole contract: a plugin author reads that one class. The bases below it
only save work: :class:`GramianMethod` (weights from the Gram matrix), :class:`LossWeightingMethod`
(weights from the losses, one backward pass), :class:`RandomMethod` (a generator that follows
the run's seed) and :class:`WrapperMethod` (a method on top of another one, e.g. RLAR).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from mtlbench.errors import ContractError, MtlbenchError
from mtlbench.methods._linalg import gram, weighted_sum
from mtlbench.methods.hparams import Dimension, Rule
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
    gram: Tensor | None = None
    """The float64 [K, K] Gram matrix G = J J^T of the rows the method saw, when it built one; the
    engine reuses it for its diagnostics (norms, cosines) instead of building it a second time."""


def method_seed(run_seed: int, method: str) -> int:
    """The seed of method ``method``'s random stream in the run with seed ``run_seed``.

    The first 63 bits of SHA-256("mtlbench-method/<method>/<run_seed>"): replicate seeds give
    independent streams, the same seed the same stream on every machine, and the stream is
    independent of the other streams seeded from the run's seed (data order, initialisation).
    """
    digest = hashlib.sha256(f"mtlbench-method/{method}/{int(run_seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class Method(ABC):
    """Base of every MTL method: everything the engine may call on a method is declared here.

    A *gradient method* (``uses_task_gradients``) sees the K x P matrix of per-task gradients
    over the shared parameters (and the K losses) and returns the P-vector to apply
    (:meth:`aggregate`). A *loss-weighting method* returns K weights from the losses alone
    (:meth:`loss_weights`, :meth:`weighted_loss`) and needs one backward pass. Hyper-parameters
    are keyword-only ``__init__`` arguments whose defaults are the official ones; the engine
    calls nothing that is not declared here, and every hook is a no-op unless overridden.

    Per run the engine drives a method like this::

        method.setup(K)                          # once, before the optimiser collects extra_parameters()
        method.set_task_names(names)             # once: the tasks' names, in the rows' order
        method.set_seed(method_seed(seed, name)) # once: the run's random stream for this method
        method.load_state_dict(saved)            # on resume only: the state of the last checkpoint
        for each epoch:
            method.start_epoch(epoch, epochs)    # a schedule picks its stage here
            method.frozen_groups()               # parameter groups that get no update this epoch
            for each step:
                # (with penalizes_representation) penalty = method.representation_penalty(dL_i/dz)
                # gradient method:
                w = method.reuse_weights(losses) # weights to reuse, or None to ask for gradients
                method.set_representation(z)     # only with gradient_source "representation"
                agg = method.aggregate(G, losses)# otherwise: G [K, P], rows w.r.t. `gradient_source`
                # loss-weighting method:
                total = method.weighted_loss(losses)  # exactly once per step; total.backward()
                optimizer.step()
                method.observe(losses_after)     # only if observes_updated_losses (FAMO)
            method.end_epoch(mean_losses)        # after the last step of every epoch
            method.state_dict()                  # into the run's checkpoint: after every epoch and every
                                                 # --checkpoint-steps/-minutes, between any two steps

    A step with one backward pass (loss weighting, reused weights) has its shared gradient clipped
    to ``max_norm`` when that is > 0, as ``aggregate`` clips the direction it returns.

    Resumable state: name the attributes that change during training in ``state_attributes``;
    :meth:`state_dict` saves them (tensors, ``torch.Generator`` states, optimiser states, plain
    Python values) and :meth:`load_state_dict` restores them, so a killed run resumes from its
    last checkpoint with exactly the numbers of an uninterrupted one. Nothing else of the object
    is saved: what ``__init__`` and the once-per-run hooks rebuild is not state.

    Randomness: a method that draws random numbers takes them from its own generator, seeded by
    :meth:`set_seed` with a seed the engine derives from the run's seed (:func:`method_seed`), and
    saves that generator in its state; :class:`RandomMethod` does all of it.

    Declared on the class, read by ``mtlbench describe`` and the tuner: ``paper`` and ``code``
    (the reference), ``hparam_rules`` (allowed values, checked by :meth:`check_hparams`) and
    ``search_space`` (what ``--tune`` samples). ``repr(method)`` shows its hyper-parameters.
    """

    uses_task_gradients: ClassVar[bool] = True
    """False for loss-weighting methods: the engine then does one backward pass of ``weighted_loss``."""

    gradient_source: ClassVar[GradientSource] = "parameters"
    """Which per-task gradients ``aggregate`` expects as rows of ``grads``.

    ``"parameters"``: d L_i / d theta_shared, flattened; the returned direction is written to the
    shared parameters' ``.grad``. ``"representation"`` (MGDA-UB, GradDrop): d L_i / d z for the
    shared representation z (the trunk's output for the whole batch, flattened), which costs one
    backward through the heads only; the direction then lives in z-space. With
    ``Aggregation.weights`` (MGDA-UB) the engine backpropagates ``sum_i weights_i * L_i`` through
    the whole model in one pass. Without weights (GradDrop, whose per-coordinate masking is no
    weighted sum) the engine backpropagates the direction itself from z into the trunk, in the same
    single pass in which every head gets the plain gradient of its own loss (and shared parameters
    that a loss reaches other than through z, e.g. ``cmn``'s text-side memory, their plain sum);
    :meth:`set_representation` shows such a method z first.
    """

    needs_losses: ClassVar[bool] = False
    """True when the update depends on the loss values, so ``aggregate`` refuses to run without them."""

    observes_updated_losses: ClassVar[bool] = False
    """True when :meth:`observe` needs the step's losses re-evaluated after the optimiser step (FAMO);
    that costs the trainer an extra forward pass, so it is only done for methods that say so."""

    penalizes_representation: ClassVar[bool] = False
    """True when :meth:`representation_penalty` adds a regulariser (RLAR): the engine then takes the
    per-task gradients w.r.t. the shared representation with ``create_graph`` every step."""

    registered_name: ClassVar[str] = ""
    """Set by the registry: the name the method is registered under."""

    paper: ClassVar[str] = ""
    """The method's reference: authors, venue and year, title."""
    code: ClassVar[str] = ""
    """Where the official code is (or why there is none)."""

    hparam_rules: ClassVar[Mapping[str, Rule]] = {}
    """Allowed values of the hyper-parameters (by ``__init__`` argument name); :meth:`check_hparams`."""
    search_space: ClassVar[Mapping[str, Dimension]] = {}
    """What ``--tune`` samples for each tunable hyper-parameter (the learning rate is always tuned)."""

    state_attributes: ClassVar[tuple[str, ...]] = ()
    """Attributes that change during training and must survive a kill and resume (see :meth:`state_dict`)."""

    max_norm: float = 0.0
    """Cap on the norm of the shared update (0: none). Nash-MTL's and FAMO's official code clip the
    shared parameters' gradient to it after the backward pass. ``aggregate`` applies it to its
    direction; the engine applies it after a step that has one backward pass (loss weighting,
    reused weights), where no direction is formed."""

    # ---------------------------------------------------------------- identity and checks
    @classmethod
    def display_name(cls) -> str:
        """The registered name (or the class name of an unregistered method), for messages."""
        return cls.registered_name or cls.__name__

    @classmethod
    def hparam_names(cls) -> tuple[str, ...]:
        """The named keyword arguments of ``__init__``: the hyper-parameters, in signature order."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return tuple(p.name for p in parameters if p.name != "self" and p.kind in named)

    @classmethod
    def hparam_defaults(cls) -> dict[str, Any]:
        """The hyper-parameters that have a default, with it (the official one)."""
        parameters = inspect.signature(cls.__init__).parameters
        return {
            name: parameters[name].default
            for name in cls.hparam_names()
            if parameters[name].default is not inspect.Parameter.empty
        }

    @classmethod
    def check_hparam_names(cls, params: Mapping[str, Any]) -> None:
        """Refuse, in one line that lists the valid keys, a hyper-parameter the method does not take."""
        valid = cls.hparam_names()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            keys = ", ".join(valid) or "none"
            raise MtlbenchError(
                f"{cls.display_name()} has no hyper-parameter {', '.join(map(repr, unknown))}; valid keys: {keys}"
            )

    def check_hparams(self, **values: Any) -> None:
        """Check each value against its rule in ``hparam_rules``: one clear line for the first bad one."""
        for name, value in values.items():
            rule = self.hparam_rules.get(name)
            if rule is not None:
                rule.check(self.display_name(), name, value)

    def __repr__(self) -> str:
        """``CAGrad(c=0.4, rescale=1, ...)``: the hyper-parameters as this object holds them."""
        shown = [f"{name}={getattr(self, name)!r}" for name in self.hparam_names() if hasattr(self, name)]
        return f"{type(self).__name__}({', '.join(shown)})"

    # ---------------------------------------------------------------- once per run
    def setup(self, n_tasks: int) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Called once by the engine with the number of tasks, before ``extra_parameters()``.

        Methods that own per-task learnable parameters (UW) allocate them here, so the optimiser
        can be built before the first step.
        """

    def set_task_names(self, names: Sequence[str]) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Called once with the tasks' names, in the order of the rows of ``grads`` and ``losses``.

        Schedules that address tasks by name (staged) bind to them here.
        """

    def set_seed(self, seed: int) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Called once with this method's seed, derived from the run's seed (:func:`method_seed`).

        A method that draws random numbers (re)starts its generator from it (:class:`RandomMethod`).
        """

    def extra_parameters(self) -> list[torch.nn.Parameter]:
        """Learnable parameters the method owns (e.g. uncertainty weights); the optimiser trains them."""
        return []

    # ---------------------------------------------------------------- once per epoch
    def start_epoch(self, epoch: int, total_epochs: int) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Called before the first step of every epoch (0-based ``epoch`` of ``total_epochs``), and
        again for the epoch in progress when a run resumes from a mid-epoch checkpoint (after
        :meth:`load_state_dict`): it must set, not accumulate (a schedule picks its stage)."""

    def frozen_groups(self) -> tuple[str, ...]:
        """Parameter groups ("shared" or a task name) that get no update this epoch (asked after
        ``start_epoch``). A schedule (staged) freezes what earlier stages trained; default: none."""
        return ()

    def end_epoch(self, mean_losses: Tensor | None = None) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Called after the last step of every epoch. ``mean_losses`` [K]: the epoch's mean training
        losses; when omitted, a method that needs them (DWA) uses the losses it saw this epoch."""

    # ---------------------------------------------------------------- every step
    def representation_penalty(self, task_grads: list[Tensor]) -> Tensor | None:
        """A regulariser on the per-task gradients w.r.t. the shared representation, added to the
        loss (each [B, ...], built with ``create_graph``); called every step when
        ``penalizes_representation``. None: no penalty (the default)."""
        return None

    def set_representation(self, representation: Tensor) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Called every step, just before ``aggregate``, when ``gradient_source`` is "representation",
        with the (detached) shared representation z [B, ...] whose gradients are the rows of ``grads``.

        GradDrop reads the signs of z: for batch-separated activations its sign purity is computed on
        sign(z) * dL_i/dz summed over the batch (Chen et al. 2020, Algorithm 1). Default: ignored.
        """

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

    def loss_weights(self, losses: Tensor) -> Tensor:
        """K weights for the (detached) task losses of this step; loss-weighting methods only.

        Must not advance the method's state: the engine may call it again after
        ``weighted_loss`` to log the weights, and it must then return the same weights.
        """
        raise ContractError(
            f"{self.display_name()} combines task gradients (uses_task_gradients is true); it has no loss weights"
        )

    def weighted_loss(self, losses: Tensor) -> Tensor:
        """The scalar to backpropagate this step; called exactly once per step of a loss-weighting method.

        It may advance per-step state (RLW draws its weights here, FAMO records the losses). The
        default is ``sum_i w_i L_i`` with the weights of ``loss_weights``; UW adds its regulariser,
        which needs the graph of its own log-variances.
        """
        weights = self.loss_weights(losses.detach()).to(losses.dtype)
        return (weights * losses).sum()

    def observe(self, losses: Tensor) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Called after every ``optimizer.step()`` with the K task losses of the step's batch
        re-evaluated AFTER the step, when ``observes_updated_losses`` (FAMO learns from the decrease)."""

    # ---------------------------------------------------------------- state
    def reset(self) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Forget any state carried between steps (EMA targets, previous losses, cached weights)."""

    def state_dict(self) -> dict[str, Any]:
        """The attributes named in ``state_attributes`` (of this class and its bases), torch-saveable.

        Tensors are copied (a learnable one keeps ``requires_grad``), a ``torch.Generator`` is saved
        through ``get_state()``, an optimiser through its ``state_dict()``, anything else deep-copied.
        """
        return {name: _saveable(getattr(self, name)) for name in self._state_names()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; called after ``setup``, ``set_task_names`` and ``set_seed``.

        A learnable tensor the method already holds with the same shape is overwritten in place, so
        an optimiser that trains it (UW's log-variances, FAMO's logits) keeps training the same
        object; a generator and an optimiser get their saved state back; other values are replaced.
        """
        names = self._state_names()
        if set(state) != set(names):
            raise ContractError(
                f"{self.display_name()}: saved state has {sorted(state)} but the method declares {sorted(names)}"
            )
        for name in names:
            setattr(self, name, _restored(getattr(self, name, None), state[name], f"{self.display_name()}.{name}"))

    def _state_names(self) -> tuple[str, ...]:
        names: list[str] = []
        for cls in reversed(type(self).__mro__):
            for name in vars(cls).get("state_attributes", ()):
                if name not in names:
                    names.append(name)
        return tuple(names)


def _saveable(value: Any) -> Any:
    if isinstance(value, torch.Generator):
        return value.get_state()
    if isinstance(value, torch.optim.Optimizer):
        return copy.deepcopy(value.state_dict())
    if isinstance(value, torch.nn.Parameter):
        return torch.nn.Parameter(value.detach().clone(), requires_grad=value.requires_grad)
    if isinstance(value, Tensor):
        return value.detach().clone().requires_grad_(value.requires_grad)
    return copy.deepcopy(value)


def _restored(current: Any, saved: Any, where: str) -> Any:
    """``saved`` put back into the attribute that now holds ``current``."""
    if isinstance(current, torch.Generator):
        current.set_state(saved)
        return current
    if isinstance(current, torch.optim.Optimizer):
        current.load_state_dict(saved)
        return current
    learnable = isinstance(current, Tensor) and current.requires_grad  # an optimiser may hold this very object
    if learnable and isinstance(saved, Tensor) and current.shape == saved.shape:
        with torch.no_grad():
            current.copy_(saved)
        return current
    if current is None and isinstance(saved, dict) and "param_groups" in saved:
        raise ContractError(f"{where} holds no optimiser yet: call setup(n_tasks) before load_state_dict")
    return _saveable(saved)


class GramianMethod(Method):
    """A gradient method whose task weights follow from the Gram matrix G = J J^T (and the losses).

    ``aggregate`` checks the inputs, builds G in float64 ONCE (:func:`~mtlbench.methods._linalg.gram`,
    on the gradients' device, never copying the K x P matrix), passes non-finite gradients on as
    a NaN update (see :func:`non_finite`), asks :meth:`weights_from_gram` for the K weights and
    returns d = sum_i w_i g_i with G attached for the engine's diagnostics. A subclass only maps
    (G, losses) to weights; :meth:`check_step` may refuse inputs before any work is done.
    """

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        g, bad = checked_gram(self, grads, losses)
        if bad is not None:
            return bad
        weights, info = self.weights_from_gram(g, losses)
        return Aggregation(direction=weighted_sum(weights, grads), weights=weights.to(grads.dtype), info=info, gram=g)

    def check_step(self, n_tasks: int, losses: Tensor | None) -> None:
        """Refuse this step's inputs with one clear line before any work (e.g. a weight per task)."""

    @abstractmethod
    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        """[K] float64 weights (on G's device) and the step's diagnostics, from G [K, K] float64."""


class LossWeightingMethod(Method):
    """A method that only re-weights the task losses: the engine does one backward pass."""

    uses_task_gradients: ClassVar[bool] = False
    needs_losses: ClassVar[bool] = True
    """False when the weights ignore the loss values (ls, DWA, RLW, UW): then ``aggregate`` works without losses."""

    @abstractmethod
    def loss_weights(self, losses: Tensor) -> Tensor:
        """K weights for the (detached) task losses of this step (see :meth:`Method.loss_weights`)."""

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        """The gradient of ``weighted_loss`` over the shared parameters: ``weights @ grads``."""
        if losses is None and not self.needs_losses:
            losses = torch.zeros(grads.shape[0], dtype=grads.dtype, device=grads.device)
        if losses is None:
            raise MtlbenchError(missing_losses(self.display_name()))
        check_inputs(grads, losses)
        weights = self.loss_weights(losses.detach()).to(device=grads.device, dtype=grads.dtype)
        direction, clip = clip_to_norm(weights @ grads, self.max_norm)
        info = {"clip_scale": clip} if self.max_norm > 0 else {}
        return Aggregation(direction=direction, weights=weights * clip, info=info)


class RandomMethod(Method):
    """Base of methods that draw random numbers: one ``torch.Generator`` that follows the run's seed.

    The generator starts from the seed the engine passes to :meth:`set_seed` (derived from the
    run's seed by :func:`method_seed`, so replicate seeds are independent and the same seed
    reproduces bit for bit), is part of the method's state (saved and restored on resume), and
    ``reset()`` restarts it. The hyper-parameter ``seed`` (default None) fixes the stream instead,
    the same in every replicate, e.g. to isolate the initialisation's share of the variance.
    Outside the engine (``combine``) the stream starts from seed 0 unless ``seed`` is given.
    """

    state_attributes = ("generator",)

    def init_random(self, seed: int | None) -> None:
        """Called by the subclass's ``__init__`` with its ``seed`` hyper-parameter."""
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise MtlbenchError(f"{self.display_name()}: seed must be an integer or None; got {seed!r}")
        self.seed = seed
        self._run_seed = 0
        self.generator = torch.Generator()
        self.restart_generator()

    def set_seed(self, seed: int) -> None:
        self._run_seed = int(seed)
        self.restart_generator()

    def restart_generator(self) -> None:
        """Back to the start of the stream: the fixed ``seed`` if given, else the run's."""
        self.generator.manual_seed(self._run_seed if self.seed is None else self.seed)

    def reset(self) -> None:
        self.restart_generator()


class WrapperMethod(Method):
    """A method on top of another one (``inner``): every hook is the inner method's unless overridden.

    What the engine reads to choose its path (``uses_task_gradients``, ``gradient_source``,
    ``needs_losses``, ``observes_updated_losses``, ``max_norm``) is the inner method's too; the
    state is the inner method's (under "inner") plus the wrapper's own ``state_attributes``.
    A wrapper adds its own behaviour by overriding a hook, e.g. RLAR's ``representation_penalty``.
    """

    def __init__(self, inner: Method) -> None:
        self.inner = inner

    @property  # type: ignore[override]
    def uses_task_gradients(self) -> bool:  # type: ignore[override]
        return self.inner.uses_task_gradients

    @property  # type: ignore[override]
    def gradient_source(self) -> GradientSource:  # type: ignore[override]
        return self.inner.gradient_source

    @property  # type: ignore[override]
    def needs_losses(self) -> bool:  # type: ignore[override]
        return self.inner.needs_losses

    @property  # type: ignore[override]
    def observes_updated_losses(self) -> bool:  # type: ignore[override]
        return self.inner.observes_updated_losses

    @property  # type: ignore[override]
    def max_norm(self) -> float:  # type: ignore[override]
        return self.inner.max_norm

    def setup(self, n_tasks: int) -> None:
        self.inner.setup(n_tasks)

    def set_task_names(self, names: Sequence[str]) -> None:
        self.inner.set_task_names(names)

    def set_seed(self, seed: int) -> None:
        self.inner.set_seed(seed)

    def extra_parameters(self) -> list[torch.nn.Parameter]:
        return self.inner.extra_parameters()

    def start_epoch(self, epoch: int, total_epochs: int) -> None:
        self.inner.start_epoch(epoch, total_epochs)

    def frozen_groups(self) -> tuple[str, ...]:
        return self.inner.frozen_groups()

    def end_epoch(self, mean_losses: Tensor | None = None) -> None:
        self.inner.end_epoch(mean_losses)

    def representation_penalty(self, task_grads: list[Tensor]) -> Tensor | None:
        return self.inner.representation_penalty(task_grads)

    def set_representation(self, representation: Tensor) -> None:
        self.inner.set_representation(representation)

    def reuse_weights(self, losses: Tensor) -> Tensor | None:
        return self.inner.reuse_weights(losses)

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        return self.inner.aggregate(grads, losses)

    def loss_weights(self, losses: Tensor) -> Tensor:
        return self.inner.loss_weights(losses)

    def weighted_loss(self, losses: Tensor) -> Tensor:
        return self.inner.weighted_loss(losses)

    def observe(self, losses: Tensor) -> None:
        self.inner.observe(losses)

    def reset(self) -> None:
        self.inner.reset()

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict(), **super().state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        own = dict(state)
        self.inner.load_state_dict(own.pop("inner", {}))
        super().load_state_dict(own)


METHODS: Registry[type[Method]] = Registry("method", "mtlbench.methods", check=require_subclass(Method))


def missing_losses(method: str) -> str:
    """The one line for a method that needs the task losses and did not get them."""
    return f"{method} weights by the task losses: pass losses= (a [K] tensor), e.g. combine({method!r}, G, losses)"


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


def checked_gram(method: Method, grads: Tensor, losses: Tensor | None) -> tuple[Tensor, Aggregation | None]:
    """The first work of a gradient method's step: inputs checked, G = J J^T built once in float64.

    Refuses bad shapes and missing losses (when ``needs_losses``) in one line, lets a
    :class:`GramianMethod` refuse its inputs (``check_step``), and returns G with, for non-finite
    gradients, the NaN update to return at once (see :func:`non_finite`), before any state changes.
    """
    k = check_inputs(grads, losses)
    if method.needs_losses and losses is None:
        raise MtlbenchError(missing_losses(method.display_name()))
    if isinstance(method, GramianMethod):
        method.check_step(k, losses)
    g = gram(grads)
    return g, non_finite(grads, g)


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
        gram=gram,
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
