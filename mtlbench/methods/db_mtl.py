"""DB-MTL: log-loss gradients, averaged over steps, each rescaled to the largest one's norm."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import to_list
from mtlbench.methods.base import METHODS, Aggregation, Method, checked_gram
from mtlbench.methods.hparams import Dimension, Range, rules, space


@METHODS.register("db-mtl", aliases=("dbmtl", "db_mtl"))
class DBMTL(Method):
    """DB-MTL (Lin et al., 2023, "Dual-Balancing for Multi-Task Learning").

    Official code: LibMTL ``DB_MTL`` (github.com/median-research-group/LibMTL; the authors').
    Loss-scale balancing: the task gradients are those of log(L_i + eps), i.e. g_i / (L_i + eps),
    computed here from this step's rows and losses (eps = 1e-8). Gradient-magnitude balancing: an
    exponential moving average b_i <- (1 - beta_t) g_i / (L_i + eps) + beta_t b_i (b = 0 at the
    start, beta_t = beta / t^beta_sigma for the t-th step; ``beta`` = 0.9, ``beta_sigma`` = 0, the
    official defaults), then every average is rescaled to the largest norm:
    d = sum_i (max_j |b_j| / (|b_i| + eps)) b_i (a sum, as the official code). The update combines
    the averages, not this step's gradients (``Aggregation.weights`` is None; the scale factors
    are in ``info``).

    State: the averages b (K x P, in the gradients' dtype and device, saved in every checkpoint)
    and t; ``reset()`` clears them. Deviation: the official code backpropagates the log losses
    into the task heads too; in mtlbench every head gets the plain gradient of its own loss under
    every gradient method, so only the shared update follows DB-MTL.
    """

    needs_losses = True
    paper = 'Lin, Ye, Xu, Shi & Zhang, 2023, "Dual-Balancing for Multi-Task Learning" (arXiv 2308.12029)'
    code = "github.com/median-research-group/LibMTL (DB_MTL)"
    hparam_rules = rules(beta=Range(0.0, 1.0), beta_sigma=Range(0.0), eps=Range(0.0, strict=True))
    search_space = space(beta=Dimension("uniform", 0.5, 0.99))
    state_attributes = ("averages", "steps")

    def __init__(self, *, beta: float = 0.9, beta_sigma: float = 0.0, eps: float = 1e-8) -> None:
        self.check_hparams(beta=beta, beta_sigma=beta_sigma, eps=eps)
        self.beta, self.beta_sigma, self.eps = float(beta), float(beta_sigma), float(eps)
        self.reset()

    def reset(self) -> None:
        self.averages: Tensor | None = None
        self.steps = 0

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        g, bad = checked_gram(self, grads, losses)
        if bad is not None:
            return bad
        assert losses is not None
        if self.averages is None or self.averages.shape != grads.shape:
            self.averages = torch.zeros_like(grads)
            self.steps = 0
        self.steps += 1
        beta_t = self.beta / self.steps**self.beta_sigma
        log_scale = 1.0 / (losses.detach().to(device=grads.device, dtype=torch.float64) + self.eps)
        averages = self.averages.to(grads.device)
        averages.mul_(beta_t).add_((1 - beta_t) * log_scale.to(grads.dtype)[:, None] * grads)
        self.averages = averages
        norms = torch.linalg.vector_norm(averages, dim=1, dtype=torch.float64)
        factors = norms.max() / (norms + self.eps)
        direction = factors.to(grads.dtype) @ averages
        info: dict[str, Any] = {"scale_factors": to_list(factors), "average_norms": to_list(norms)}
        return Aggregation(direction=direction, info=info, gram=g)
