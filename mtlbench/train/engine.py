"""The MTL step engine: per-task gradients over the shared parameters, combined by a method.

Under a gradient method, heads (task-specific parameters) receive the plain gradient of
their own task's loss and only the shared trunk's gradient is the method's combination.
Loss-weighting methods need no per-task gradients, so they get one backward pass of their
weighted sum (heads then see their task's weight too, as in LibMTL). ``probe_every`` > 0
takes per-task gradients every so many steps for the diagnostics of such methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from mtlbench.methods.base import Aggregation, Method


@dataclass
class StepRecord:
    """What happened in one step, for the training log."""

    losses: dict[str, float]
    weights: list[float] | None = None
    cosines: dict[str, float] = field(default_factory=dict)
    grad_norms: dict[str, float] = field(default_factory=dict)
    update_norm: float | None = None
    conflict: bool | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"losses": self.losses}
        for key in ("weights", "update_norm", "conflict"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.cosines:
            out["cosines"] = self.cosines
            out["grad_norms"] = self.grad_norms
        if self.info:
            out["info"] = self.info
        return out


class MTLEngine:
    """Turns a dict of task losses into ``.grad`` on every parameter, as the method decides.

    ``update_every`` > 1 lets a weighting method reuse the task weights it chose at its last
    solve for the following steps (one backward pass of the weighted loss in between), the
    cheap mode of Nash-MTL's official code offered to every method that reports weights.
    With a ``scaler`` (``torch.amp.GradScaler``, mixed precision), losses are scaled before
    backward as usual, but the scale is divided out of the per-task gradients before the
    method sees them, so norm- and Gram-based solvers work on the true gradients; the
    direction is scaled back so that ``scaler.step`` treats every ``.grad`` alike.
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
        scale = float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else 1.0
        penalty = self._penalty(losses, representation, record)
        reuse = self._cached_weights is not None and step % self.update_every != 0
        if self.method.uses_task_gradients and not reuse:
            source = getattr(self.method, "gradient_source", "parameters")
            if source == "representation":
                if representation is None:
                    raise ValueError(f"{type(self.method).__name__} needs the backbone's shared representation")
                grads = self._representation_gradients(losses, representation, scale)
                aggregation = self.method.aggregate(grads, loss_vec.detach())
                if aggregation.weights is None:
                    raise ValueError(f"{type(self.method).__name__} works on the representation but gave no weights")
                weights = aggregation.weights.detach().to(loss_vec.dtype)
                (scale * (weights * loss_vec).sum()).backward(retain_graph=penalty is not None)
                record.info["gradient_source"] = "representation"
            else:
                grads = self._task_gradients(losses, scale, set_heads=True, keep_graph=penalty is not None)
                aggregation = self.method.aggregate(grads, loss_vec.detach())
                self._write_shared(aggregation.direction * scale)
            self._describe(record, grads, aggregation)
            if aggregation.weights is not None and self.update_every > 1:
                self._cached_weights = aggregation.weights.detach().to(loss_vec.dtype)
        elif reuse:
            weights = self._cached_weights
            (scale * (weights * loss_vec).sum()).backward(retain_graph=penalty is not None)
            record.weights = [float(w) for w in weights.tolist()]
            record.info["reused_weights"] = True
        else:
            self._loss_weighting_backward(losses, loss_vec, scale, record, keep_graph=penalty is not None)
        if penalty is not None:
            (scale * penalty).backward()
        return record

    def _loss_weighting_backward(
        self, losses: dict[str, Tensor], loss_vec: Tensor, scale: float, record: StepRecord, *, keep_graph: bool
    ) -> None:
        probe = None
        if self.probe_every and (self._steps - 1) % self.probe_every == 0:
            probe = self._task_gradients(losses, scale, set_heads=False, keep_graph=True)
        weighted = getattr(self.method, "weighted_loss", None)
        if weighted is not None:
            total = weighted(loss_vec)
            weights = self.method.loss_weights(loss_vec.detach())  # type: ignore[attr-defined]
        else:
            weights = self.method.loss_weights(loss_vec.detach())  # type: ignore[attr-defined]
            total = (weights * loss_vec).sum()
        (scale * total).backward(retain_graph=keep_graph)
        record.weights = [float(w) for w in weights.detach().tolist()]
        if probe is not None:
            self._describe(record, probe, Aggregation(direction=weights.to(probe.dtype) @ probe, weights=weights))

    def _penalty(self, losses: dict[str, Tensor], representation: Tensor | None, record: StepRecord) -> Tensor | None:
        """A method's regulariser on the per-task gradients w.r.t. the representation (RLAR)."""
        penalty_of = getattr(self.method, "representation_penalty", None)
        if penalty_of is None:
            return None
        if representation is None:
            raise ValueError(f"{type(self.method).__name__} needs the backbone's shared representation")
        task_grads = [
            torch.autograd.grad(losses[t], representation, retain_graph=True, create_graph=True)[0] for t in self.tasks
        ]
        penalty = penalty_of(task_grads)
        record.info["penalty"] = float(penalty.detach())
        return penalty

    def _representation_gradients(self, losses: dict[str, Tensor], representation: Tensor, scale: float) -> Tensor:
        rows = [
            torch.autograd.grad(scale * losses[t], representation, retain_graph=True)[0].reshape(-1) / scale
            for t in self.tasks
        ]
        return torch.stack(rows)

    def _task_gradients(
        self, losses: dict[str, Tensor], scale: float, *, set_heads: bool, keep_graph: bool = False
    ) -> Tensor:
        """[K, P] gradients of each task loss over the shared parameters, unscaled, on their device."""
        rows = []
        last = len(self.tasks) - 1
        for i, task in enumerate(self.tasks):
            heads = self.task_params[task] if set_heads else []
            params = [*self.shared, *heads]
            grads = torch.autograd.grad(
                scale * losses[task], params, retain_graph=keep_graph or i < last, allow_unused=True
            )
            shared_grads, head_grads = grads[: len(self.shared)], grads[len(self.shared) :]
            row = torch.cat(
                [(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(shared_grads, self.shared)]
            )
            rows.append(row / scale if scale != 1.0 else row)
            for p, g in zip(heads, head_grads):
                if g is not None:
                    p.grad = g if p.grad is None else p.grad + g
        return torch.stack(rows)

    def _write_shared(self, direction: Tensor) -> None:
        offset = 0
        for p in self.shared:
            n = p.numel()
            p.grad = direction[offset : offset + n].view_as(p).to(p.dtype).clone()
            offset += n

    def _describe(self, record: StepRecord, grads: Tensor, aggregation: Aggregation) -> None:
        gram = grads.double() @ grads.double().T
        norms = gram.diagonal().clamp_min(0).sqrt()
        k = len(self.tasks)
        record.grad_norms = {t: float(n) for t, n in zip(self.tasks, norms.tolist())}
        denom = (norms[:, None] * norms[None, :]).clamp_min(1e-300)
        cos = (gram / denom).tolist()
        record.cosines = {
            f"{self.tasks[i]}|{self.tasks[j]}": float(cos[i][j]) for i in range(k) for j in range(i + 1, k)
        }
        record.conflict = any(c < 0 for c in record.cosines.values())
        record.update_norm = float(aggregation.direction.double().norm())
        if aggregation.weights is not None and record.weights is None:
            record.weights = [float(w) for w in aggregation.weights.detach().tolist()]
        record.info |= {k: _plain(v) for k, v in aggregation.info.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach().cpu().tolist() if value.numel() > 1 else float(value)
    return value
