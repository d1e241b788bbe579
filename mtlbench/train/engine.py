"""The MTL step engine: per-task gradients over the shared parameters, combined by a method.

Under a gradient method, heads (task-specific parameters) receive the plain gradient of
their own task's loss and only the shared trunk's gradient is the method's combination; this
holds on every step, including steps that reuse earlier weights and representation-level
methods (MGDA-UB), which backpropagate ``sum_i w_i L_i`` once and then undo w_i on the heads.
Loss-weighting methods need no per-task gradients, so they get one backward pass of their
weighted sum (heads then see their task's weight too, as in LibMTL). ``probe_every`` > 0
takes per-task gradients every so many steps for the diagnostics of such methods.

Costs: K backward passes through the shared trunk for a gradient method (the graph is kept
for all but the last), one for a loss-weighting method or a step that reuses weights, and for a
representation-level method (MGDA-UB, GradDrop) K backward passes through the heads to z plus
one through the whole model. The
K x P gradient matrix is allocated once per step on the parameters' device and never leaves
it; the methods reduce it to its K x K Gram matrix in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from mtlbench.methods._linalg import cosine_matrix, gram
from mtlbench.methods.base import Aggregation, Method

HEAD_WEIGHT_FLOOR = 1e-3
"""A head whose task weight is below this share of the largest |weight| gets its plain gradient
from its own extra backward pass rather than by dividing out a weight that may have underflowed."""


@dataclass
class StepRecord:
    """What happened in one step, for the training log."""

    losses: dict[str, float]
    weights: dict[str, float] | None = None
    """Effective weight of each task's gradient in the shared update (when the method has them)."""
    cosines: dict[str, float] = field(default_factory=dict)
    """cos(g_i, g_j) of the per-task gradients, keyed "task_i|task_j" (i < j)."""
    grad_norms: dict[str, float] = field(default_factory=dict)
    update_norm: float | None = None
    """|d|, the norm of the shared update the method chose (before the optimiser)."""
    conflict: bool | None = None
    """Whether some pair of task gradients has a negative cosine (None: not measured this step)."""
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"losses": self.losses}
        for key in ("weights", "update_norm", "conflict"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.grad_norms:
            out["grad_norms"] = self.grad_norms
        if self.cosines:
            out["cosines"] = self.cosines
        if self.info:
            out["info"] = self.info
        return out


class MTLEngine:
    """Turns a dict of task losses into ``.grad`` on every parameter, as the method decides.

    ``update_every`` > 1 lets a gradient method reuse the task weights it chose at its last
    solve for the following steps (one backward pass of the weighted loss in between), the
    cheap mode of Nash-MTL's official code offered to every method that reports weights; a
    method with its own period (Nash-MTL's ``update_weights_every``) answers
    ``Method.reuse_weights`` instead. A method with ``max_norm`` > 0 (Nash-MTL, FAMO) has the
    shared gradient of such one-backward steps clipped to it, as its official code does.

    With a ``scaler`` (``torch.amp.GradScaler``, mixed precision), losses are scaled before
    backward as usual, but the scale is divided out of the per-task gradients before the
    method sees them, so norm- and Gram-based solvers work on the true gradients; the
    direction is scaled back so that ``scaler.unscale_``/``step`` treat every ``.grad`` alike.
    """

    def __init__(
        self,
        shared: Sequence[nn.Parameter],
        task_params: dict[str, Sequence[nn.Parameter]],
        method: Method,
        *,
        probe_every: int = 0,
        update_every: int = 1,
    ) -> None:
        if update_every < 1:
            raise ValueError(f"update_every must be >= 1, got {update_every}")
        self.shared = [p for p in shared if p.requires_grad]
        self.tasks = list(task_params)
        self.task_params = {task: [p for p in ps if p.requires_grad] for task, ps in task_params.items()}
        self.method = method
        self.probe_every = probe_every
        self.update_every = update_every
        self._steps = 0
        self._cached_weights: Tensor | None = None

    def state_dict(self) -> dict[str, Any]:
        """The engine's own progress (step count, reused weights), for a checkpoint: probing
        (``probe_every``) and weight reuse (``update_every``) go on where they were after a resume."""
        cached = self._cached_weights.detach().cpu().clone() if self._cached_weights is not None else None
        return {"steps": self._steps, "cached_weights": cached}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._steps = int(state["steps"])
        cached = state["cached_weights"]
        reference = self.shared[0] if self.shared else None
        self._cached_weights = cached.to(reference.device) if cached is not None and reference is not None else cached

    def backward(
        self,
        losses: dict[str, Tensor],
        *,
        representation: Tensor | None = None,
        scaler: torch.amp.GradScaler | None = None,
    ) -> StepRecord:
        """Set ``.grad`` of the shared and task parameters for this step's ``losses``.

        ``representation`` is the shared trunk's output for the batch (the tensor every head
        reads); methods with ``gradient_source = "representation"`` (MGDA-UB) and methods with
        a ``representation_penalty`` (RLAR) need it.
        """
        if list(losses) != self.tasks:
            raise ValueError(f"losses for tasks {list(losses)} but the engine was built for {self.tasks}")
        step = self._steps
        self._steps += 1
        loss_vec = torch.stack([losses[t] for t in self.tasks])
        record = StepRecord(losses={t: float(v) for t, v in zip(self.tasks, loss_vec.detach().tolist())})
        scale = 1.0
        if scaler is not None and scaler.is_enabled():
            # scaler.scale() (not get_scale) creates the scaler's state on the losses' device, which
            # its unscale_/step need; the engine then multiplies by this factor itself
            scale = float(scaler.scale(torch.ones((), dtype=torch.float32, device=loss_vec.device)))
        penalty = self._penalty(losses, representation, record)
        keep = penalty is not None
        if self.method.uses_task_gradients:
            if self._cached_weights is not None and step % self.update_every != 0:
                reused: Tensor | None = self._cached_weights
            else:
                reused = self.method.reuse_weights(loss_vec.detach())
            if reused is not None:
                self._weighted_backward(reused, loss_vec, scale, keep_graph=keep)
                self._clip_shared(scale, record)
                record.weights = self._named(reused)
                record.info["reused_weights"] = True
            else:
                self._gradient_step(losses, loss_vec, representation, scale, record, keep_graph=keep)
        else:
            self._loss_weighting_backward(losses, loss_vec, scale, record, keep_graph=keep)
            self._clip_shared(scale, record)
        if penalty is not None:
            (scale * penalty).backward()
        return record

    def _gradient_step(
        self,
        losses: dict[str, Tensor],
        loss_vec: Tensor,
        representation: Tensor | None,
        scale: float,
        record: StepRecord,
        *,
        keep_graph: bool,
    ) -> None:
        """K gradients -> the method -> the shared update (or, at the representation, the weights)."""
        if self.method.gradient_source == "representation":
            if representation is None:
                raise ValueError(f"{type(self.method).__name__} needs the backbone's shared representation")
            grads = self._representation_gradients(losses, representation, scale)
            self.method.set_representation(representation.detach())
            aggregation = self.method.aggregate(grads, loss_vec.detach())
            if aggregation.weights is None:
                self._representation_backward(aggregation.direction, grads, loss_vec, representation, scale, keep_graph)
            else:
                self._weighted_backward(aggregation.weights, loss_vec, scale, keep_graph=keep_graph)
            record.info["gradient_source"] = "representation"
        else:
            grads = self._task_gradients(losses, scale, set_heads=True, keep_graph=keep_graph)
            aggregation = self.method.aggregate(grads, loss_vec.detach())
            self._write_shared(aggregation.direction, scale)
        self._describe(record, grads, aggregation)
        if aggregation.weights is not None and self.update_every > 1:
            self._cached_weights = aggregation.weights.detach()

    def _loss_weighting_backward(
        self, losses: dict[str, Tensor], loss_vec: Tensor, scale: float, record: StepRecord, *, keep_graph: bool
    ) -> None:
        probe = None
        if self.probe_every and (self._steps - 1) % self.probe_every == 0:
            probe = self._task_gradients(losses, scale, set_heads=False, keep_graph=True)
        total = self.method.weighted_loss(loss_vec)
        weights = self.method.loss_weights(loss_vec.detach())
        (scale * total).backward(retain_graph=keep_graph)
        record.weights = self._named(weights)
        if probe is not None:
            weights = weights.detach().to(device=probe.device, dtype=probe.dtype)
            self._describe(record, probe, Aggregation(direction=weights @ probe, weights=weights))

    def _weighted_backward(self, weights: Tensor, loss_vec: Tensor, scale: float, *, keep_graph: bool) -> None:
        """One backward pass of ``sum_i w_i L_i``; every head then gets its task's PLAIN gradient.

        Head parameters of task i reach only L_i, so their gradient is w_i times the plain one and
        dividing by w_i restores it; a head whose weight is (nearly) zero gets its own backward.
        """
        w = weights.detach().to(device=loss_vec.device, dtype=loss_vec.dtype)
        magnitudes = [abs(float(v)) for v in w.tolist()]
        floor = HEAD_WEIGHT_FLOOR * max(magnitudes, default=0.0)
        redo = [i for i, m in enumerate(magnitudes) if (m <= floor or m == 0.0) and self.task_params[self.tasks[i]]]
        (scale * (w * loss_vec).sum()).backward(retain_graph=keep_graph or bool(redo))
        for i, task in enumerate(self.tasks):
            if i in redo:
                continue
            for p in self.task_params[task]:
                if p.grad is not None:
                    p.grad.div_(w[i].to(p.grad.dtype))
        for n, i in enumerate(redo):
            heads = self.task_params[self.tasks[i]]
            retain = keep_graph or n < len(redo) - 1
            grads = torch.autograd.grad(scale * loss_vec[i], heads, retain_graph=retain, allow_unused=True)
            for p, g in zip(heads, grads):
                p.grad = g

    def _representation_backward(
        self,
        direction: Tensor,
        rows: Tensor,
        loss_vec: Tensor,
        representation: Tensor,
        scale: float,
        keep_graph: bool,
    ) -> None:
        """One backward pass that puts a z-space ``direction`` (GradDrop's) into the trunk.

        Backpropagating ``sum_i L_i`` gives every head the plain gradient of its own loss and the
        trunk J_z^T sum_i g_i^z plus whatever reaches it other than through z; seeding z with
        ``direction - sum_i g_i^z`` in the same pass swaps J_z^T sum_i g_i^z for J_z^T direction.
        """
        correction = (direction - rows.sum(dim=0)).view_as(representation).to(representation.dtype)
        total = loss_vec.sum()
        torch.autograd.backward(
            [total, representation],
            [torch.full_like(total, scale), correction * scale if scale != 1.0 else correction],
            retain_graph=keep_graph,
        )

    def _clip_shared(self, scale: float, record: StepRecord) -> None:
        """Clip the shared gradient of a one-backward step to the method's ``max_norm`` (if any)."""
        max_norm = float(self.method.max_norm)
        if max_norm <= 0:
            return
        grads = [p.grad for p in self.shared if p.grad is not None]
        if not grads:
            return
        norm = math.sqrt(sum(float(torch.linalg.vector_norm(g, dtype=torch.float64)) ** 2 for g in grads)) / scale
        factor = max_norm / norm if math.isfinite(norm) and norm > max_norm else 1.0
        if factor < 1.0:
            for g in grads:
                g.mul_(factor)
        record.info["clip_scale"] = factor

    def _penalty(self, losses: dict[str, Tensor], representation: Tensor | None, record: StepRecord) -> Tensor | None:
        """A method's regulariser on the per-task gradients w.r.t. the representation (RLAR)."""
        if not self.method.penalizes_representation:
            return None
        if representation is None:
            raise ValueError(f"{type(self.method).__name__} needs the backbone's shared representation")
        task_grads = [
            torch.autograd.grad(losses[t], representation, retain_graph=True, create_graph=True)[0] for t in self.tasks
        ]
        penalty = self.method.representation_penalty(task_grads)
        if penalty is None:
            return None
        record.info["penalty"] = float(penalty.detach())
        record.info["penalty_active"] = float(record.info["penalty"] > 0.0)  # its mean: share of steps it acted
        return penalty

    def _representation_gradients(self, losses: dict[str, Tensor], representation: Tensor, scale: float) -> Tensor:
        """[K, numel(z)] gradients of each task loss w.r.t. the representation z, unscaled."""
        out = torch.empty(
            len(self.tasks), representation.numel(), dtype=representation.dtype, device=representation.device
        )
        for i, task in enumerate(self.tasks):
            (grad,) = torch.autograd.grad(scale * losses[task], representation, retain_graph=True)
            out[i] = grad.reshape(-1)
        return out.div_(scale) if scale != 1.0 else out

    def _task_gradients(
        self, losses: dict[str, Tensor], scale: float, *, set_heads: bool, keep_graph: bool = False
    ) -> Tensor:
        """[K, P] gradients of each task loss over the shared parameters, unscaled, on their device.

        The graph is kept for every task but the last (unless ``keep_graph``); with ``set_heads``
        each task's heads receive the plain gradient of its loss from the same backward pass.
        """
        numel = sum(p.numel() for p in self.shared)
        reference = self.shared[0] if self.shared else next(iter(losses.values()))
        out = torch.zeros(len(self.tasks), numel, dtype=reference.dtype, device=reference.device)
        last = len(self.tasks) - 1
        for i, task in enumerate(self.tasks):
            heads = self.task_params[task] if set_heads else []
            params = [*self.shared, *heads]
            grads = torch.autograd.grad(
                scale * losses[task], params, retain_graph=keep_graph or i < last, allow_unused=True
            )
            offset = 0
            for p, g in zip(self.shared, grads[: len(self.shared)]):
                if g is not None:
                    out[i, offset : offset + p.numel()] = g.reshape(-1)
                offset += p.numel()
            for p, g in zip(heads, grads[len(self.shared) :]):
                if g is not None:
                    p.grad = g if p.grad is None else p.grad + g
        return out.div_(scale) if scale != 1.0 else out

    def _write_shared(self, direction: Tensor, scale: float) -> None:
        offset = 0
        for p in self.shared:
            n = p.numel()
            piece = direction[offset : offset + n].view_as(p).to(p.dtype)
            p.grad = piece * scale if scale != 1.0 else piece.clone()
            offset += n

    def _named(self, weights: Tensor) -> dict[str, float]:
        return dict(zip(self.tasks, (float(w) for w in weights.detach().tolist())))

    def _describe(self, record: StepRecord, grads: Tensor, aggregation: Aggregation) -> None:
        """Norms and pairwise cosines of the task gradients, the update's norm, the method's info.

        The Gram matrix is the method's own when it built one (``Aggregation.gram``), so it is
        built once per step."""
        g = aggregation.gram if aggregation.gram is not None else gram(grads)
        k = len(self.tasks)
        record.grad_norms = dict(zip(self.tasks, g.diagonal().clamp_min(0).sqrt().tolist()))
        cos = cosine_matrix(g).tolist()
        record.cosines = {
            f"{self.tasks[i]}|{self.tasks[j]}": float(cos[i][j]) for i in range(k) for j in range(i + 1, k)
        }
        record.conflict = any(c < 0 for c in record.cosines.values())
        record.update_norm = float(torch.linalg.vector_norm(aggregation.direction, dtype=torch.float64))
        if aggregation.weights is not None and record.weights is None:
            record.weights = self._named(aggregation.weights)
        record.info |= {key: _plain(value) for key, value in aggregation.info.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach().cpu().tolist() if value.numel() > 1 else float(value)
    return value
