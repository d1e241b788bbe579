"""MoCo: MGDA-like weights on moving averages of the task gradients (bias correction)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.errors import MtlbenchError
from mtlbench.methods._linalg import gram, project_to_simplex, to_list
from mtlbench.methods.base import METHODS, Aggregation, Method, checked_gram, missing_losses
from mtlbench.methods.hparams import Choice, Dimension, Range, rules, space
from mtlbench.methods.mgda import NORMALIZATIONS, gradient_normalizers


@METHODS.register("moco")
class MoCo(Method):
    """MoCo (Fernando et al., ICLR 2023, "Mitigating Gradient Bias in Multi-objective Learning").

    The paper's Algorithm 1, as in its first author's code (github.com/heshandevaka/Trade-Off-MOL,
    ``MoCo`` in LibMTL/LibMTL/weighting): each task's gradient is tracked by
    y_i <- y_i - beta_t (y_i - g_i) (y = 0 at the start); the rows of Y are normalised for the
    weights (``normalization``: ``"none"`` (default), ``"l2"`` |y_i|, ``"loss"`` L_i, ``"loss+"``
    L_i |y_i|, as MGDA's normalisers); the weights lambda on the simplex (uniform at the start)
    take one projected gradient step, lambda <- Proj_simplex(lambda - gamma_t (Y Y^T + rho I) lambda),
    and the update is d = Y^T lambda of the normalised rows: the tracked gradients, not this
    step's (``Aggregation.weights`` is therefore None; lambda is in ``info``). Step sizes
    beta_t = beta / t^beta_sigma, gamma_t = gamma / t^gamma_sigma (t = 1, 2, ...); defaults
    beta = gamma = rho = 0.1 and constant steps (sigma 0), the author's code. lambda sums to 1
    (``reduction="mean"``); ``"sum"`` multiplies d by K.

    State: Y (K x P, in the gradients' dtype and device: it doubles the memory of the gradient
    matrix and is saved in every checkpoint), lambda and t; ``reset()`` clears them.

    Deviations: LibMTL's port (from code shared by the author) differs: it normalises each
    gradient to g_i L_i / |g_i| before tracking, decays both steps with sigma 0.5 from beta 0.5,
    rho = 0 and replaces the projection by a softmax; those are available as hyper-parameters
    except the softmax and the pre-tracking normalisation. A zero normaliser leaves its row as is.
    """

    paper = (
        'Fernando, Shen, Liu, Chaudhury, Murugesan & Chen, ICLR 2023, "Mitigating Gradient Bias in '
        'Multi-objective Learning: A Provably Convergent Approach"'
    )
    code = "the first author's code in github.com/heshandevaka/Trade-Off-MOL (MoCo); LibMTL MoCo"
    hparam_rules = rules(
        beta=Range(0.0, 1.0),
        gamma=Range(0.0, strict=True),
        rho=Range(0.0),
        beta_sigma=Range(0.0),
        gamma_sigma=Range(0.0),
        normalization=Choice(NORMALIZATIONS),
        reduction=Choice(("mean", "sum")),
    )
    search_space = space(beta=Dimension("log", 0.01, 0.9), gamma=Dimension("log", 1e-3, 1.0))
    state_attributes = ("tracked", "lambd", "steps")

    def __init__(
        self,
        *,
        beta: float = 0.1,
        gamma: float = 0.1,
        rho: float = 0.1,
        beta_sigma: float = 0.0,
        gamma_sigma: float = 0.0,
        normalization: str = "none",
        reduction: str = "mean",
    ) -> None:
        self.check_hparams(
            beta=beta,
            gamma=gamma,
            rho=rho,
            beta_sigma=beta_sigma,
            gamma_sigma=gamma_sigma,
            normalization=normalization,
            reduction=reduction,
        )
        self.beta, self.gamma, self.rho = float(beta), float(gamma), float(rho)
        self.beta_sigma, self.gamma_sigma = float(beta_sigma), float(gamma_sigma)
        self.normalization = normalization
        self.reduction = reduction
        self.reset()

    def reset(self) -> None:
        self.tracked: Tensor | None = None
        self.lambd: Tensor | None = None
        self.steps = 0

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        g, bad = checked_gram(self, grads, losses)
        if bad is not None:
            return bad
        if "loss" in self.normalization and losses is None:
            raise MtlbenchError(missing_losses(f"moco (normalization {self.normalization!r})"))
        k = grads.shape[0]
        if self.tracked is None or self.tracked.shape != grads.shape:
            self.tracked = torch.zeros_like(grads)
            self.lambd = torch.full((k,), 1.0 / k, dtype=torch.float64)
            self.steps = 0
        assert self.lambd is not None
        self.steps += 1
        beta_t = self.beta / self.steps**self.beta_sigma
        gamma_t = self.gamma / self.steps**self.gamma_sigma
        tracked = self.tracked.to(grads.device)
        tracked.sub_(beta_t * (tracked - grads))
        self.tracked = tracked
        y_gram = gram(tracked)
        scale = gradient_normalizers(y_gram, losses, self.normalization)
        y_gram = y_gram / (scale[:, None] * scale[None, :])
        lambd = self.lambd.to(g.device)
        lambd = project_to_simplex(lambd - gamma_t * (y_gram @ lambd + self.rho * lambd))
        self.lambd = lambd.cpu()
        coeffs = lambd / scale * (k if self.reduction == "sum" else 1)
        direction = coeffs.to(grads.dtype) @ tracked
        info: dict[str, Any] = {"lambda": to_list(lambd), "tracked_norms": to_list(y_gram.diagonal().sqrt() * scale)}
        return Aggregation(direction=direction, info=info, gram=g)
