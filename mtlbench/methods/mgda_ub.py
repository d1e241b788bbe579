"""MGDA-UB: MGDA on the gradients w.r.t. the shared representation (an upper bound, one backward)."""

from __future__ import annotations

from typing import ClassVar

from mtlbench.methods.base import METHODS, GradientSource
from mtlbench.methods.mgda import MGDA


@METHODS.register("mgda-ub", aliases=("mgda_ub", "mgdaub"))
class MGDAUB(MGDA):
    """MGDA-UB (Sener & Koltun 2018, Sec. 3.3): MGDA on gradients w.r.t. the shared representation.

    MGDA's solver on the gradients of the task losses w.r.t. the shared REPRESENTATION z instead
    of the shared parameters (``use_approximation`` in the official code). It optimises an
    upper bound and needs one backward through the trunk: the engine feeds rows d L_i / d z
    (``gradient_source = "representation"``, z of the whole batch flattened) and backpropagates
    sum_i w_i L_i with ``Aggregation.weights`` (each head then gets its plain gradient back);
    the returned direction is in z-space. Same normalisations, defaults and deviations as ``mgda``.
    """

    gradient_source: ClassVar[GradientSource] = "representation"
