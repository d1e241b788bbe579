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

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from mtlbench.errors import MtlbenchError
from mtlbench.methods.base import METHODS, WrapperMethod
from mtlbench.methods.hparams import Described, Dimension, Range, rules, space


@METHODS.register("rlar")
class RLAR(WrapperMethod):
    """RLAR, a representation-level alignment regulariser (reconstructed formula) on top of any method.

    Wraps ``base`` (any registered method, hyper-parameters passed through) and adds
    beta * mean max(0, cos(a_i, a_j) - tau)^2 over the per-sample task gradients a_i at the shared
    representation (see the module docstring for the reading of the seed paper). Every other
    hook, and the state, is the base method's (:class:`~mtlbench.methods.base.WrapperMethod`).
    """

    penalizes_representation = True
    paper = "the seed paper's representation-level regulariser on thyroid ultrasound (formula unpublished)"
    code = "none released; mtlbench's reconstruction (see the module docstring)"
    hparam_rules = rules(
        base=Described("any other registered method; its hyper-parameters pass through"),
        beta=Range(0.0),
        tau=Range(-1.0, 1.0),
    )
    search_space = space(beta=Dimension("log", 1e-2, 1.0), tau=Dimension("uniform", 0.0, 0.9))

    def __init__(self, *, base: str = "ls", beta: float = 0.1, tau: float = 0.0, **base_params: Any) -> None:
        self.check_hparams(beta=beta, tau=tau)
        if METHODS.canonical(base) == "rlar":
            raise MtlbenchError("rlar: base must be another method (e.g. base='pcgrad'), not rlar itself")
        super().__init__(METHODS.get(base)(**base_params))
        self.base = base
        self.beta = float(beta)
        self.tau = float(tau)

    @classmethod
    def check_hparam_names(cls, params: Mapping[str, Any]) -> None:
        """Its own keys, and the base method's for the rest."""
        own = cls.hparam_names()
        base = METHODS.get(str(params.get("base", cls.hparam_defaults()["base"])))
        if base is cls:
            raise MtlbenchError("rlar: base must be another method (e.g. base='pcgrad'), not rlar itself")
        unknown = sorted(set(params) - set(own) - set(base.hparam_names()))
        if unknown:
            keys = ", ".join([*own, *base.hparam_names()])
            raise MtlbenchError(
                f"rlar (base {base.display_name()}) has no hyper-parameter {', '.join(map(repr, unknown))}; "
                f"valid keys: {keys}"
            ) from None

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

    def __repr__(self) -> str:
        """``RLAR(base='pcgrad', beta=0.1, tau=0.0, reduction='sum', ...)``: its own and its base's."""
        inner = repr(self.inner)
        own = f"base={self.base!r}, beta={self.beta!r}, tau={self.tau!r}"
        passed = inner[inner.index("(") + 1 : -1]
        return f"RLAR({own}{', ' if passed else ''}{passed})"
