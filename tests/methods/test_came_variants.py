"""CAME-Grad's alternative readings, each checked against its formula worked out by hand.

Rows as in test_methods_goldens: g_1 = (1, 0), g_2 = (-1/4, 1/4), task weights [1, 4], so
h_1 = (1, 0), h_2 = (-1, 1), g_LS = (0, 1); S1 gives d = (1/2, 1), |d| = sqrt(5)/2.
"""

from __future__ import annotations

import math

import pytest
import torch

from mtlbench.errors import MtlbenchError
from mtlbench.methods import combine, create

F64 = torch.float64
CONFLICTING = torch.tensor([[1.0, 0.0], [-0.25, 0.25]], dtype=F64)
D = torch.tensor([0.5, 1.0], dtype=F64)  # S1's direction on CONFLICTING
ROOT5 = math.sqrt(5.0)


def test_pre_cancellation_reference_is_the_sum_of_the_weighted_norms() -> None:
    # N_ref = |h_1| + |h_2| = 1 + sqrt 2 (|g_LS| = 1 after cancellation): gain = 1.5 (1 + sqrt 2) / (sqrt 5 / 2)
    got = combine("came-grad", CONFLICTING, n_ref="pre", fuse=False)
    torch.testing.assert_close(got, 1.5 * (1 + math.sqrt(2)) / (ROOT5 / 2) * D, rtol=1e-9, atol=1e-12)
    info = create("came-grad", n_ref="pre").aggregate(CONFLICTING).info
    assert info["n_ref"] == pytest.approx(1 + math.sqrt(2))


def _agreeing(angle_degrees: float) -> torch.Tensor:
    """Two unit rows (weights 1) at ``angle`` degrees: cos = cos(angle)."""
    a = math.radians(angle_degrees)
    return torch.tensor([[1.0, 0.0], [math.cos(a), math.sin(a)]], dtype=F64)


def test_continuous_fusion_weighs_g_ls_by_the_agreement() -> None:
    # under conflict nu_t = nu, as the switch
    torch.testing.assert_close(
        combine("came-grad", CONFLICTING, nu_schedule="continuous"), combine("came-grad", CONFLICTING)
    )
    g = _agreeing(60.0)  # cos_min = 1/2: nu_t = 0.2 + 0.8 / 2 = 0.6
    d_e = combine("came-grad", g, task_weights=None, fuse=False)
    g_ls = g.sum(0)
    got = create("came-grad", task_weights=None, nu_schedule="continuous").aggregate(g)
    assert got.info["nu_t"] == pytest.approx(0.6) and got.info["cos_min"] == pytest.approx(0.5)
    torch.testing.assert_close(got.direction, 0.4 * d_e + 0.6 * g_ls, rtol=1e-9, atol=1e-12)


def test_continuous_fusion_has_no_jump_where_the_switch_jumps() -> None:
    """Across cos = 0 (angle 90 degrees) the switch moves the update far; the continuous fusion does not."""
    params = {"task_weights": None}
    near = [_agreeing(90.0 + s * 0.6) for s in (1, -1)]  # cos -0.01 and +0.01
    switch = [combine("came-grad", g, **params) for g in near]
    smooth = [combine("came-grad", g, nu_schedule="continuous", **params) for g in near]
    jump = float(torch.linalg.norm(switch[0] - switch[1]))
    step = float(torch.linalg.norm(smooth[0] - smooth[1]))
    assert jump > 0.1 and step < 0.05 and step < jump / 10


def test_fluctuation_injection_scales_the_deviation_from_the_running_mean() -> None:
    method = create("came-grad", injection="fluctuation", fuse=False, beta=0.9)
    gain = 1.5 * 1.0 / (ROOT5 / 2)  # kappa |g_LS| / |d|
    first = method.aggregate(CONFLICTING)
    # step 1: no mean yet (m = 0), so d_E = gain d: the magnitude reading's update
    torch.testing.assert_close(first.direction, gain * D, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(first.direction, combine("came-grad", CONFLICTING, fuse=False), rtol=1e-9, atol=0)
    saved = method.state_dict()
    second_rows = CONFLICTING * torch.tensor([[2.0], [1.0]], dtype=F64)  # another mini-batch
    second = method.aggregate(second_rows)
    # step 2: m = bias-corrected EMA of step 1's d = (0.1 d) / (1 - 0.9) = d; d_2 and its gain from S1 on the new rows
    d_2 = combine("came-grad", second_rows, inject=False, fuse=False)
    gain_2 = 1.5 * float(torch.linalg.norm(second_rows[0] + 4 * second_rows[1])) / float(torch.linalg.norm(d_2))
    torch.testing.assert_close(second.direction, D + gain_2 * (d_2 - D), rtol=1e-9, atol=1e-12)
    assert second.weights is None and second.info["mean_norm"] == pytest.approx(ROOT5 / 2)
    resumed = create("came-grad", injection="fluctuation", fuse=False, beta=0.9)
    resumed.load_state_dict(saved)  # the running mean survives a kill and resume
    torch.testing.assert_close(resumed.aggregate(second_rows).direction, second.direction, rtol=0, atol=0)
    resumed.reset()
    torch.testing.assert_close(resumed.aggregate(CONFLICTING).direction, first.direction, rtol=0, atol=0)


def test_fluctuation_injection_fuses_like_the_others() -> None:
    method = create("came-grad", injection="fluctuation")
    out = method.aggregate(CONFLICTING).direction  # step 1: 0.8 gain d + 0.2 g_LS, as the default
    torch.testing.assert_close(out, combine("came-grad", CONFLICTING), rtol=1e-9, atol=1e-12)


def test_variant_values_are_checked() -> None:
    with pytest.raises(MtlbenchError, match="n_ref must be one of"):
        create("came-grad", n_ref="before")
    with pytest.raises(MtlbenchError, match="beta must be below 1"):
        create("came-grad", beta=1.0)
    with pytest.raises(MtlbenchError, match="nu_schedule must be one of"):
        create("came-grad", nu_schedule="smooth")
