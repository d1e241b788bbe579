"""Properties the methods promise, checked in torchjd's manner on many matrices."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbench.errors import MtlbenchError
from mtlbench.methods import METHODS, combine, create

GRADIENT_METHODS = [
    "pcgrad",
    "gradvac",
    "cagrad",
    "mgda",
    "nashmtl",
    "imtl-g",
    "upgrad",
    "aligned-mtl",
    "config",
    "came-grad",
]
NON_CONFLICTING = ["mgda", "upgrad", "config"]
ORDER_FREE = ["ls", "mgda", "cagrad", "nashmtl", "imtl-g", "upgrad", "aligned-mtl", "config"]


def _params(name: str, k: int) -> dict:
    if name == "came-grad":
        return {"task_weights": [1.0] + [4.0] * (k - 1)}
    # MGDA promises a non-conflicting update for the gradients its solver sees: the raw ones
    return {"normalization": "none"} if name == "mgda" else {}


def _matrix(k: int, seed: int) -> torch.Tensor:
    return torch.randn(k, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", [*GRADIENT_METHODS, "ls"])
@pytest.mark.parametrize("scale", [0.0, 1e-10, 1e-5, 1.0, 1e5, 1e10, 1e15])
def test_finite_output_of_the_right_shape_at_every_scale(name: str, scale: float) -> None:
    for k in (2, 3, 5):
        g = _matrix(k, k) * scale
        d = combine(name, g, torch.ones(k, dtype=torch.float64), **_params(name, k))
        assert d.shape == (11,) and bool(torch.isfinite(d).all()), (name, k, scale)
        if scale == 0.0:
            assert float(d.abs().max()) == 0.0


@pytest.mark.parametrize("name", NON_CONFLICTING)
@settings(max_examples=40, deadline=None)
@given(k=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_update_does_not_conflict_with_any_task(name: str, k: int, seed: int) -> None:
    g = _matrix(k, seed)
    d = combine(name, g, torch.ones(k, dtype=torch.float64), **_params(name, k))
    assert bool((g @ d >= -1e-9 * g.norm() * d.norm()).all())


@pytest.mark.parametrize("name", ORDER_FREE)
def test_permuting_the_tasks_does_not_change_the_update(name: str) -> None:
    g = _matrix(4, 7)
    order = torch.tensor([2, 0, 3, 1])
    params = _params(name, 4)
    torch.testing.assert_close(combine(name, g, **params), combine(name, g[order], **params), rtol=1e-9, atol=1e-12)


def test_mgda_weights_satisfy_the_kkt_conditions() -> None:
    g = _matrix(5, 3)
    agg = create("mgda", normalization="none").aggregate(g)
    w, gram = agg.weights.double(), g @ g.T
    grad = gram @ w
    level = w @ grad
    assert abs(float(w.sum()) - 1) < 1e-12 and bool((w >= 0).all())
    assert bool((grad >= level - 1e-10).all())  # no vertex improves the objective
    assert float((w * (grad - level)).abs().max()) < 1e-10  # complementary slackness


def test_nash_weights_satisfy_the_bargaining_condition() -> None:
    g = _matrix(4, 5)
    agg = create("nashmtl", max_norm=0.0).aggregate(g)
    alpha = torch.tensor(agg.info["alpha"], dtype=torch.float64)
    torch.testing.assert_close(alpha * (g @ g.T @ alpha), torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-9)


def test_nash_without_a_solution_falls_back_and_says_so() -> None:
    g = _matrix(2, 1)
    g[1] = -g[0]  # cancelling gradients: no alpha > 0 satisfies the condition
    agg = create("nashmtl").aggregate(g)
    assert agg.info["fallback"] == 1.0 and bool(torch.isfinite(agg.direction).all())


def test_imtl_g_gives_equal_projections_on_the_unit_gradients() -> None:
    g = _matrix(4, 9)
    d = combine("imtl-g", g)
    projections = (g / g.norm(dim=1, keepdim=True)) @ d
    torch.testing.assert_close(projections, projections[0].expand(4), rtol=1e-9, atol=1e-12)


def test_came_grad_stages_reduce_to_ls_and_to_cagrad() -> None:
    g = _matrix(2, 4)
    off = combine("came-grad", g, rectify=False, inject=False, fuse=False)
    torch.testing.assert_close(off, combine("ls", g, weights=[1.0, 4.0]))
    only_rectify = combine("came-grad", g, inject=False, fuse=False)
    weighted = g * torch.tensor([[1.0], [4.0]], dtype=torch.float64)
    torch.testing.assert_close(only_rectify, combine("cagrad", weighted, c=0.5, rescale=0), rtol=1e-9, atol=1e-12)
    agg = create("came-grad").aggregate(g)
    assert {"d_norm", "ls_norm", "gain", "nu_t", "conflict"} <= set(agg.info)


def test_loss_weighting_methods_need_losses_when_their_weights_depend_on_them() -> None:
    with pytest.raises(MtlbenchError, match="pass losses="):
        combine("famo", _matrix(2, 0))
    d = combine("uw", _matrix(2, 0), torch.tensor([1.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(d, (0.5 * math.exp(0.5)) * _matrix(2, 0).sum(0))


def test_dwa_follows_the_ratio_of_the_last_two_epochs() -> None:
    method = create("dwa")
    assert method.loss_weights(torch.ones(2)).tolist() == [1.0, 1.0]
    method.end_epoch(torch.tensor([2.0, 1.0]))
    method.end_epoch(torch.tensor([1.0, 1.0]))  # task 0 halved, task 1 flat
    expected = 2 * torch.softmax(torch.tensor([0.5, 1.0]) / 2.0, dim=0)
    torch.testing.assert_close(method.loss_weights(torch.ones(2)), expected)


def test_famo_moves_weight_towards_the_task_that_improves_less() -> None:
    method = create("famo", w_lr=0.1)
    method.setup(2)
    for _ in range(20):
        method.weighted_loss(torch.tensor([1.0, 1.0]))
        method.observe(torch.tensor([0.5, 0.99]))  # task 0 improves fast, task 1 barely
    w = method.loss_weights(torch.tensor([1.0, 1.0]))
    assert float(w[1]) > float(w[0]) and abs(float(w.sum()) - 1) < 1e-9


def test_every_registered_method_has_a_docstring_naming_its_source() -> None:
    for name in METHODS.names():
        doc = METHODS.get(name).__doc__ or ""
        assert len(doc.split()) >= 8, name
