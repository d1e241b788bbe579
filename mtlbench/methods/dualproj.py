"""DualProj: the mean gradient projected onto the dual cone of the task gradients."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtlbench.methods._linalg import normalized, to_list
from mtlbench.methods.base import METHODS, GramianMethod
from mtlbench.methods.hparams import Choice, rules
from mtlbench.methods.solvers import dual_cone_weights


@METHODS.register("dualproj")
class DualProj(GramianMethod):
    """DualProj (torchjd; the projection of Lopez-Paz & Ranzato, NeurIPS 2017, GEM, Eq. 11).

    The averaged gradient g_0 = J^T u is projected onto the dual cone {x : J x >= 0} of the rows:
    d = argmin_{x : J x >= 0} |x - g_0|^2. Its dual is min_{v >= u} v^T G v, a non-negative least
    squares problem in Gram form (UPGrad solves it for every single row and averages), so
    d = J^T v* with v* = u + argmin_{z >= 0} 1/2 z^T G z + (G u) . z, solved exactly by an
    active-set method in float64 on G normalised to unit largest diagonal. u = 1/K
    (``reduction="mean"``, torchjd's default) or 1 (``"sum"``). The update never conflicts with any
    task: J d >= 0 (tested). A zero G gives d = 0. Deviation from torchjd: no ``reg_eps`` ridge on G
    and no trace normalisation, exact solves instead (as mtlbench's UPGrad); the agreement is
    measured in the tests.
    """

    paper = 'torchjd\'s DualProj; the projection of Lopez-Paz & Ranzato, NeurIPS 2017, "Gradient Episodic Memory"'
    code = "github.com/TorchJD/torchjd (DualProj)"
    hparam_rules = rules(reduction=Choice(("mean", "sum")))

    def __init__(self, *, reduction: str = "mean") -> None:
        self.check_hparams(reduction=reduction)
        self.reduction = reduction

    def weights_from_gram(self, g: Tensor, losses: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        k = g.shape[0]
        preference = torch.full((k,), 1.0 / k if self.reduction == "mean" else 1.0, dtype=g.dtype, device=g.device)
        g_n, size = normalized(g)
        if size == 0.0:  # every gradient is zero: d = 0 whatever the weights
            return preference, {"weights": to_list(preference), "kkt_residual": 0.0, "projected": 0.0}
        solution = dual_cone_weights(g_n, preference)
        projected = float(not torch.equal(solution.x, preference))
        return solution.x, {"weights": to_list(solution.x), "kkt_residual": solution.residual, "projected": projected}
