"""Nash-MTL: the update as the Nash bargaining solution between the tasks."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import to_list
from mtlbench.methods.base import METHODS, GramianMethod, log_fallback
from mtlbench.methods.hparams import Range, rules
from mtlbench.methods.solvers import nash_bargaining


@METHODS.register("nashmtl", aliases=("nash-mtl", "nash_mtl", "nash"))
class NashMTL(GramianMethod):
    """Nash-MTL (Navon et al., ICML 2022, "Multi-Task Learning as a Bargaining Game").

    Official code: github.com/AvivNavon/nash-mtl (``NashMTL`` in methods/weight_methods.py).
    alpha > 0 solves alpha_i (G alpha)_i = 1 for every task; d = sum_i alpha_i g_i (the weights
    are in the units of the raw G, as the official constraint alpha_i * nf * (G/nf alpha)_i >= 1
    makes them), then clipped to norm ``max_norm`` (default 1.0; 0 disables). The weights are
    recomputed every ``update_weights_every`` steps (default 1) and reused in between, as the
    official code.

    Task-specific parameters: the official code backpropagates ``sum_i alpha_i L_i`` through the
    whole model, so each head gets alpha_i times its gradient; in mtlbench every head gets the
    plain gradient of its own loss under every gradient method (the harness's convention, as
    LibMTL), so only the shared update differs between methods. A deliberate deviation.

    Update period: on the steps between two solves the engine asks ``reuse_weights`` and does
    ONE backward pass of ``sum_i alpha_i L_i`` (heads still plain) followed by the clip, as the
    official code's cheap steps; ``aggregate`` called on such a step (``combine`` users driving
    the object by hand) reuses the weights too.

    Clipping: the official ``backward`` calls ``clip_grad_norm_(shared_parameters, max_norm)``
    after ``loss.backward()`` - on the SHARED parameters only, whose gradient is exactly d (the
    heads are not clipped). So the clip is applied here, to the direction, which is the same
    thing; ``info`` reports ``max_norm``, ``norm_before_clip`` and ``clip_scale``, and
    ``Aggregation.weights`` are the clipped weights (``info["alpha"]`` the unclipped ones).

    Solver and deviations: the official code runs up to ``optim_niter`` = 20 sequential cvxpy/ECOS
    problems on the CPU (a linearised concave-convex procedure) and stops at a loose tolerance
    (its stopping test even mixes the normalised G with unnormalised alpha). We solve the same
    fixed point exactly as the minimiser of 1/2 a^T G a - sum log a by damped Newton steps in
    float64 on the gradients' device; ``optim_niter`` caps the Newton iterations, ``tol`` is the
    accepted residual max_i |alpha_i (G alpha)_i - 1|. Each solve starts cold (alpha = 1/|g_i|),
    so the result depends only on this step's G, not on the history (the official warm start
    only changes its approximation error). When no solution exists (a zero task gradient, or
    gradients that cancel, e.g. g_1 = -g_2) or the solve does not reach ``tol``, the previous
    weights are reused - all ones before the first success, as the official initial
    ``prvs_alpha`` - and ``info["fallback"]`` = 1; an all-zero G gives d = 0.
    """

    paper = 'Navon et al., ICML 2022, "Multi-Task Learning as a Bargaining Game"'
    code = "github.com/AvivNavon/nash-mtl (NashMTL in methods/weight_methods.py)"
    hparam_rules = rules(
        max_norm=Range(0.0),
        update_weights_every=Range(1),
        optim_niter=Range(1),
        tol=Range(0.0, strict=True),
    )
    state_attributes = ("steps_taken", "alpha")

    def __init__(
        self,
        *,
        max_norm: float = 1.0,
        update_weights_every: int = 1,
        optim_niter: int = 20,
        tol: float = 1e-10,
    ) -> None:
        self.check_hparams(
            max_norm=max_norm, update_weights_every=update_weights_every, optim_niter=optim_niter, tol=tol
        )
        self.max_norm = float(max_norm)
        self.update_weights_every = int(update_weights_every)
        self.optim_niter = int(optim_niter)
        self.tol = float(tol)
        self.reset()

    def reset(self) -> None:
        self.steps_taken = 0
        self.alpha: Tensor | None = None

    def _updates_now(self) -> bool:
        return self.steps_taken % self.update_weights_every == 0

    def reuse_weights(self, losses: Tensor) -> Tensor | None:
        """Between two solves: the last alpha (all ones before the first success), as the official code."""
        if self._updates_now():
            return None
        self.steps_taken += 1
        k = losses.shape[0]
        if self.alpha is not None and self.alpha.shape[0] == k:
            return self.alpha.to(device=losses.device, dtype=torch.float64)
        return torch.ones(k, dtype=torch.float64, device=losses.device)

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        info: dict[str, float | list[float]] = {"max_norm": self.max_norm}
        previous = self.alpha if self.alpha is not None and self.alpha.shape[0] == k else None
        if self._updates_now():
            solution = nash_bargaining(g, max_iter=self.optim_niter, tol=self.tol)
            ok = solution.converged and bool(torch.isfinite(solution.x).all())
            if ok:
                alpha = solution.x
                self.alpha = alpha.cpu()
            else:
                alpha = previous.to(g.device) if previous is not None else torch.ones(k, dtype=g.dtype, device=g.device)
                log_fallback(
                    "nashmtl",
                    f"no alpha with alpha_i (G alpha)_i = 1 after {solution.iterations} Newton steps "
                    f"(residual {solution.residual:.3g})",
                    "the previous alpha (all ones before the first solution)",
                )
            info.update(
                updated=1.0,
                iterations=float(solution.iterations),
                residual=solution.residual,
                fallback=0.0 if ok else 1.0,
            )
        else:
            alpha = previous.to(g.device) if previous is not None else torch.ones(k, dtype=g.dtype, device=g.device)
            info.update(updated=0.0, fallback=0.0)
        self.steps_taken += 1
        norm = math.sqrt(max(float(alpha @ g @ alpha), 0.0))
        scale = self.max_norm / norm if self.max_norm > 0 and norm > self.max_norm else 1.0
        info.update(alpha=to_list(alpha), norm_before_clip=norm, clip_scale=scale)
        return alpha * scale, info
