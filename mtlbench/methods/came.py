"""CAME-Grad, reconstructed from the paper's description (the authors withheld the code)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from mtlbench.errors import MtlbenchError
from mtlbench.methods._linalg import to_list
from mtlbench.methods.base import METHODS, GramianMethod
from mtlbench.methods.cagrad import cagrad_step
from mtlbench.methods.hparams import Choice, Described, Dimension, Flag, Range, rules, space

PAPER_TASK_WEIGHTS = (1.0, 4.0)
"""The paper's ``task_weights=[1.0, cls_weight]`` with cls_weight 4, for [report, cls]."""


@METHODS.register("came-grad", aliases=("came", "camegrad", "came_grad"))
class CAMEGrad(GramianMethod):
    """CAME-Grad (Zhang et al., ICML 2026): a RECONSTRUCTION from the paper, whose code was withheld.

    "The Double Dilemma in Multi-Task Radiology Report Generation". The authors withheld the
    optimizer's code, so this is our reading of the paper's description, not their
    implementation; results under this name are results of the reconstruction.

    What the paper states: it wraps AdamW and is called as ``step([loss_lm, loss_cls],
    task_weights=[1.0, 4.0])``; rho = 0.5 ("conflict radius"), kappa = 1.5 ("magnitude gain"),
    nu = 0.2 ("fusion coefficient"); three stages, (S1) direction rectification by a
    conflict-averse projection (crediting CAGrad), (S2) energy injection restoring the magnitude
    lost to cancellation, (S3) adaptive fusion with the weighted linear gradient.

    Reconstruction, with h_i = w_i g_i (``task_weights``, default [1, 4] for [report, cls], the
    paper's ``[loss_lm, loss_cls]``; with more tasks the default gives each further task 1, any
    other list needs one weight per task) and g_LS = sum_i h_i:

    - S1 (``rectify``): d = CAGrad direction on the rows h_i with c = rho, no rescale, sum
      convention (= ``cagrad(c=rho, rescale=0)`` on the weighted rows, = g_LS when c = 0).
      Off: d = g_LS.
    - S2 (``inject``): d_E = kappa * (N_ref / |d|) * d, N_ref = |g_LS| (``n_ref="ls"``) or
      mean_i |h_i| (``"mean"``); gain = kappa N_ref / |d| (0 if d = 0). Off: d_E = d.
    - S3 (``fuse``): out = (1 - nu_t) d_E + nu_t g_LS with nu_t = nu while the tasks conflict
      (cos(h_i, h_j) < 0 for some pair) and 1 otherwise (``nu_schedule="conflict"``), or
      nu_t = nu always (``"constant"``). Off: out = d_E.

    With all three stages off it equals ``ls`` with ``weights=task_weights``. Under Adam(W) a
    constant gain is almost a no-op: Adam divides by the running RMS of the gradient, so c * g
    gives the same steps up to Adam's eps; only the step-to-step variation of the gain - |d| and
    N_ref changing with the conflict - reaches the parameters through Adam. Two things break the
    invariance in practice, both measured in benchmarks/methods_came_adam.md: Adam's eps (1e-8)
    on coordinates whose gradients are that small, and a norm-based global gradient clip such
    as the trainer's ``grad_clip``, which a gain makes trigger more often.

    ``info``, one group per stage: S1 ``cagrad_weights``, ``cagrad_lam``, ``s1_cos_ls`` =
    cos(d, g_LS) (how far S1 turned the direction); S2 ``d_norm`` = |d|, ``n_ref``, ``gain``;
    S3 ``conflict``, ``nu_t``; and ``ls_norm`` = |g_LS|, ``out_norm`` = |out|.
    """

    paper = 'Zhang et al., ICML 2026, "The Double Dilemma in Multi-Task Radiology Report Generation"'
    code = "withheld by the authors; this is mtlbench's reconstruction from the paper"
    hparam_rules = rules(
        rho=Range(0.0),
        kappa=Range(0.0),
        nu=Range(0.0, 1.0),
        task_weights=Described("non-negative numbers, one per task; None: all 1"),
        rectify=Flag(),
        inject=Flag(),
        fuse=Flag(),
        n_ref=Choice(("ls", "mean")),
        nu_schedule=Choice(("conflict", "constant")),
        max_iter=Range(1),
    )
    search_space = space(
        rho=Dimension("uniform", 0.1, 0.9),
        kappa=Dimension("uniform", 1.0, 2.0),
        nu=Dimension("uniform", 0.0, 0.5),
    )

    def __init__(
        self,
        *,
        rho: float = 0.5,
        kappa: float = 1.5,
        nu: float = 0.2,
        task_weights: Sequence[float] | None = PAPER_TASK_WEIGHTS,
        rectify: bool = True,
        inject: bool = True,
        fuse: bool = True,
        n_ref: str = "ls",
        nu_schedule: str = "conflict",
        max_iter: int = 200,
    ) -> None:
        self.check_hparams(
            rho=rho,
            kappa=kappa,
            nu=nu,
            n_ref=n_ref,
            nu_schedule=nu_schedule,
            max_iter=max_iter,
            rectify=rectify,
            inject=inject,
            fuse=fuse,
        )
        if task_weights is not None:
            task_weights = tuple(float(w) for w in task_weights)
            if not task_weights or not all(math.isfinite(w) and w >= 0 for w in task_weights):
                raise MtlbenchError(f"came-grad: task_weights must be non-negative numbers; got {list(task_weights)}")
        self.rho = float(rho)
        self.kappa = float(kappa)
        self.nu = float(nu)
        self.task_weights = task_weights
        self.rectify = rectify
        self.inject = inject
        self.fuse = fuse
        self.n_ref = n_ref
        self.nu_schedule = nu_schedule
        self.max_iter = int(max_iter)

    def _task_weights(self, k: int) -> Tensor:
        if self.task_weights is None:
            return torch.ones(k, dtype=torch.float64)
        if self.task_weights == PAPER_TASK_WEIGHTS and k > 2:
            return torch.tensor([*PAPER_TASK_WEIGHTS, *([1.0] * (k - 2))], dtype=torch.float64)
        if len(self.task_weights) != k:
            raise MtlbenchError(
                f"came-grad: task_weights has {len(self.task_weights)} entries for {k} tasks; pass one per task"
            )
        return torch.tensor(self.task_weights, dtype=torch.float64)

    def check_step(self, n_tasks: int, losses: Tensor | None) -> None:
        self._task_weights(n_tasks)

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        tw = self._task_weights(k)
        tw = tw.to(g.device)
        h = g * tw[:, None] * tw[None, :]  # Gram matrix of the weighted rows h_i = w_i g_i
        ls_norm = math.sqrt(max(float(h.sum()), 0.0))
        info: dict[str, float | list[float]] = {"ls_norm": ls_norm}

        # S1: coefficients of d over the rows h_i (sum convention).
        if self.rectify:
            step = cagrad_step(h, self.rho, max_iter=self.max_iter)
            coeffs = step.coeffs * k
            info.update(cagrad_weights=to_list(step.dual_weights), cagrad_lam=step.info.get("lam", 0.0))
            info.update({f"cagrad_{key}": step.info[key] for key in ("iterations", "fallback") if key in step.info})
        else:
            coeffs = torch.ones(k, dtype=g.dtype, device=g.device)
        d_norm = math.sqrt(max(float(coeffs @ h @ coeffs), 0.0))
        info["d_norm"] = d_norm
        info["s1_cos_ls"] = float(coeffs @ h.sum(dim=1)) / (d_norm * ls_norm) if d_norm * ls_norm > 0 else 0.0

        # S2: restore the magnitude lost to cancellation, times kappa.
        if self.inject:
            n_ref = ls_norm if self.n_ref == "ls" else float(h.diagonal().clamp_min(0).sqrt().mean())
            gain = self.kappa * n_ref / d_norm if d_norm > 0 else 0.0
            coeffs = coeffs * gain
            info.update(n_ref=n_ref, gain=gain)
        else:
            info["gain"] = 1.0

        # S3: fuse with the weighted linear gradient while the tasks conflict.
        off_diagonal = ~torch.eye(k, dtype=torch.bool, device=g.device)
        conflict = bool((h[off_diagonal] < 0).any())
        info["conflict"] = 1.0 if conflict else 0.0
        if self.fuse:
            nu_t = self.nu if (conflict or self.nu_schedule == "constant") else 1.0
            coeffs = (1 - nu_t) * coeffs + nu_t * torch.ones_like(coeffs)
        else:
            nu_t = 0.0
        info["nu_t"] = nu_t
        info["out_norm"] = math.sqrt(max(float(coeffs @ h @ coeffs), 0.0))

        return coeffs * tw, info  # out = sum_i coeffs_i h_i = sum_i (coeffs_i w_i) g_i
