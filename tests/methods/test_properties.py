"""Properties the methods promise, checked in torchjd's manner on many matrices."""

from __future__ import annotations

import logging
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
    "mgda-ub",
    "nashmtl",
    "imtl-g",
    "upgrad",
    "aligned-mtl",
    "config",
    "came-grad",
]
NEWER = ["fairgrad", "sdmgrad", "moco", "modo", "excessmtl", "dualproj", "db-mtl", "gradnorm", "imtl"]
GRADIENT_METHODS += NEWER
NON_CONFLICTING = ["mgda", "upgrad", "config", "nashmtl", "dualproj"]
ORDER_FREE = ["ls", "mgda", "cagrad", "nashmtl", "imtl-g", "upgrad", "aligned-mtl", "config", "came-grad"]
ORDER_FREE += ["fairgrad", "sdmgrad", "moco", "modo", "excessmtl", "graddrop", "dualproj", "imtl-l"]
HOMOGENEOUS = ["ls", "pcgrad", "gradvac", "cagrad", "mgda", "imtl-g", "upgrad", "aligned-mtl", "config", "came-grad"]
HOMOGENEOUS += ["excessmtl", "graddrop", "dualproj", "imtl-l"]
"""d(a J) = a d(J) for a > 0 (GradVac on its first step, without its eps guard: targets start at 0;
ExcessMTL on its first step, whose weights are uniform; GradDrop with the same draws; FairGrad's
degree is (1 - alpha)/(1 + alpha), tested on its own)."""


def _params(name: str, k: int) -> dict:
    """Hyper-parameters that let every method run on a bare K-row matrix."""
    if name == "came-grad":
        return {"task_weights": None}  # equal weights: the task order must not matter
    if name in ("mgda", "mgda-ub"):
        # MGDA promises a non-conflicting update for the gradients its solver sees: the raw ones
        return {"normalization": "none"}
    if name == "nashmtl":
        return {"max_norm": 0.0}
    if name == "staged":
        tasks = [f"t{i}" for i in range(k)]
        return {"task_names": tasks, "stages": [",".join(tasks)]}
    if name == "stl":
        return {"task_names": [f"t{i}" for i in range(k)], "task": "t0"}
    return {}


def _matrix(k: int, seed: int, p: int = 11) -> torch.Tensor:
    return torch.randn(k, p, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _losses(k: int) -> torch.Tensor:
    return torch.linspace(0.5, 2.0, k, dtype=torch.float64)


@pytest.mark.parametrize("name", METHODS.names())
@pytest.mark.parametrize("scale", [0.0, 1e-10, 1e-5, 1.0, 1e5, 1e10, 1e15])
def test_finite_output_of_the_right_shape_at_every_scale(name: str, scale: float) -> None:
    for k in (2, 3, 5):
        g = _matrix(k, k) * scale
        d = combine(name, g, _losses(k), **_params(name, k))
        assert d.shape == (11,) and d.dtype == g.dtype and bool(torch.isfinite(d).all()), (name, k, scale)
        if scale == 0.0:
            assert float(d.abs().max()) == 0.0, (name, k)


@pytest.mark.parametrize("name", METHODS.names())
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_gradients_pass_through_without_an_exception(name: str, bad: float) -> None:
    """fp16 training overflows now and then: GradScaler must see the inf/NaN and skip the step."""
    g = _matrix(3, 0)
    g[1, 2] = bad
    d = combine(name, g, _losses(3), **_params(name, 3))
    assert d.shape == (11,) and not bool(torch.isfinite(d).all())


@pytest.mark.parametrize("name", [*GRADIENT_METHODS, "ls"])
def test_float32_gradients_give_the_float64_answer_to_float32_precision(name: str) -> None:
    """The K x K solvers run in float64 whatever the gradients' dtype."""
    g = _matrix(4, 2)
    low = combine(name, g.float(), _losses(4).float(), **_params(name, 4))
    high = combine(name, g.float().double(), _losses(4), **_params(name, 4))
    assert low.dtype == torch.float32
    torch.testing.assert_close(low.double(), high, rtol=1e-4, atol=1e-5 * float(high.abs().max()))


@pytest.mark.parametrize("name", NON_CONFLICTING)
@settings(max_examples=40, deadline=None)
@given(k=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_update_does_not_conflict_with_any_task(name: str, k: int, seed: int) -> None:
    g = _matrix(k, seed)
    d = combine(name, g, _losses(k), **_params(name, k))
    assert bool((g @ d >= -1e-9 * g.norm() * d.norm()).all())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_pcgrad_does_not_conflict_for_two_tasks(seed: int) -> None:
    g = _matrix(2, seed)
    d = combine("pcgrad", g)
    assert bool((g @ d >= -1e-9 * g.norm() * d.norm()).all())


@pytest.mark.parametrize("name", ORDER_FREE)
def test_permuting_the_tasks_does_not_change_the_update(name: str) -> None:
    g = _matrix(4, 7)
    order = torch.tensor([2, 0, 3, 1])
    params = _params(name, 4)
    torch.testing.assert_close(combine(name, g, **params), combine(name, g[order], **params), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["pcgrad", "gradvac"])
def test_two_task_surgery_does_not_depend_on_the_order(name: str) -> None:
    g = _matrix(2, 8)
    torch.testing.assert_close(combine(name, g), combine(name, g.flip(0)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", HOMOGENEOUS)
@pytest.mark.parametrize("factor", [1e-3, 7.0])
def test_scaling_the_gradients_scales_the_update(name: str, factor: float) -> None:
    g = _matrix(3, 4)
    params = _params(name, 3) | ({"eps": 0.0} if name == "gradvac" else {})
    scaled = combine(name, factor * g, **params)
    torch.testing.assert_close(scaled, factor * combine(name, g, **params), rtol=1e-8, atol=0)


def test_nash_update_is_scale_free_before_clipping() -> None:
    """alpha_i (G alpha)_i = 1: scaling the gradients by a scales alpha by 1/a, so d does not change."""
    g = _matrix(3, 4)
    torch.testing.assert_close(combine("nashmtl", 9.0 * g, max_norm=0.0), combine("nashmtl", g, max_norm=0.0))


@settings(max_examples=40, deadline=None)
@given(k=st.integers(2, 7), seed=st.integers(0, 10_000), normalization=st.sampled_from(["none", "l2", "loss", "loss+"]))
def test_mgda_weights_satisfy_the_kkt_conditions_of_the_problem_their_solver_sees(
    k: int, seed: int, normalization: str
) -> None:
    g = _matrix(k, seed, p=max(k - 1, 2))  # fewer columns than rows: the hull contains 0 at times
    losses = _losses(k)
    agg = create("mgda", normalization=normalization).aggregate(g, losses)
    n = {"none": torch.ones(k), "l2": g.norm(dim=1), "loss": losses, "loss+": losses * g.norm(dim=1)}[normalization]
    scaled = g / n[:, None].double()
    w, gram = agg.weights.double(), scaled @ scaled.T
    grad = gram @ w
    level = w @ grad
    size = float(gram.diagonal().max())
    assert abs(float(w.sum()) - 1) < 1e-12 and bool((w >= 0).all())
    assert bool((grad >= level - 1e-9 * size).all())  # no vertex improves the objective
    assert float((w * (grad - level)).abs().max()) < 1e-9 * size  # complementary slackness
    torch.testing.assert_close(agg.direction, w @ g)  # the update weights the RAW gradients


@settings(max_examples=40, deadline=None)
@given(k=st.integers(2, 7), seed=st.integers(0, 10_000), scale=st.sampled_from([1e-6, 1.0, 1e6]))
def test_nash_weights_satisfy_the_bargaining_condition(k: int, seed: int, scale: float) -> None:
    g = _matrix(k, seed) * scale
    agg = create("nashmtl", max_norm=0.0).aggregate(g)
    alpha = torch.tensor(agg.info["alpha"], dtype=torch.float64)
    assert agg.info["fallback"] == 0.0 and bool((alpha > 0).all())
    torch.testing.assert_close(alpha * (g @ g.T @ alpha), torch.ones(k, dtype=torch.float64), rtol=0, atol=1e-9)


def test_nash_clips_to_max_norm() -> None:
    g = _matrix(3, 5) * 100
    agg = create("nashmtl", max_norm=0.5).aggregate(g)
    assert float(agg.direction.norm()) == pytest.approx(0.5, rel=1e-12)
    assert agg.info["norm_before_clip"] > 0.5 and agg.info["clip_scale"] < 1


def test_nash_reuses_its_weights_between_updates() -> None:
    method = create("nashmtl", max_norm=0.0, update_weights_every=3)
    first, second = _matrix(3, 1), _matrix(3, 2)
    a0 = method.aggregate(first)
    a1 = method.aggregate(second)
    assert a1.info["updated"] == 0.0 and a1.info["alpha"] == a0.info["alpha"]
    torch.testing.assert_close(method.reuse_weights(_losses(3)), torch.tensor(a0.info["alpha"], dtype=torch.float64))
    a3 = method.aggregate(second)  # the fourth step solves again
    assert a3.info["updated"] == 1.0 and a3.info["alpha"] != a0.info["alpha"]


def test_nash_without_a_solution_falls_back_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    g = _matrix(2, 1)
    g[1] = -g[0]  # cancelling gradients: no alpha > 0 satisfies the condition
    with caplog.at_level(logging.WARNING, logger="mtlbench.methods"):
        agg = create("nashmtl").aggregate(g)
    assert agg.info["fallback"] == 1.0 and bool(torch.isfinite(agg.direction).all())
    assert "nashmtl" in caplog.text and "falling back to the previous alpha" in caplog.text


@pytest.mark.parametrize("name", ["cagrad", "mgda"])
def test_a_solver_stopped_early_falls_back_to_uniform_weights_and_says_so(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    g = _matrix(6, 3, p=4)  # six tasks in four dimensions: the solvers need several iterations
    params = {"max_iter": 1} | ({"normalization": "none", "reduction": "mean"} if name == "mgda" else {"rescale": 0})
    with caplog.at_level(logging.WARNING, logger="mtlbench.methods"):
        agg = create(name, **params).aggregate(g)
    assert agg.info["fallback"] == 1.0 and f"{name}: " in caplog.text and "falling back to uniform" in caplog.text
    uniform = torch.full((6,), 1 / 6, dtype=torch.float64)
    if name == "mgda":
        torch.testing.assert_close(agg.weights, uniform)
    else:  # uniform dual weights: d = K (1 + c) g_0
        torch.testing.assert_close(agg.direction, 6 * 1.4 * (uniform @ g))


def test_imtl_g_gives_equal_projections_on_the_unit_gradients() -> None:
    g = _matrix(4, 9)
    d = combine("imtl-g", g)
    projections = (g / g.norm(dim=1, keepdim=True)) @ d
    torch.testing.assert_close(projections, projections[0].expand(4), rtol=1e-9, atol=1e-12)


def test_config_gives_equal_positive_cosines_with_every_task() -> None:
    g = _matrix(3, 6)
    d = combine("config", g)
    cosines = (g / g.norm(dim=1, keepdim=True)) @ (d / d.norm())
    torch.testing.assert_close(cosines, cosines[0].expand(3), rtol=1e-9, atol=1e-12)
    assert float(cosines[0]) > 0


def test_aligned_mtl_update_has_equal_components_on_the_aligned_basis() -> None:
    """Aligned-MTL's rows B^T J are orthogonal with equal norms sqrt(lambda_min)."""
    g = _matrix(3, 7)
    agg = create("aligned-mtl").aggregate(g)
    values, vectors = torch.linalg.eigh(g @ g.T)
    basis = values.min().sqrt() * vectors @ torch.diag(values.rsqrt()) @ vectors.T
    aligned = basis.T @ g
    torch.testing.assert_close(aligned @ aligned.T, values.min() * torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(agg.direction, aligned.sum(0))


def test_came_grad_stages_reduce_to_ls_and_to_cagrad() -> None:
    g = _matrix(2, 4)
    off = combine("came-grad", g, rectify=False, inject=False, fuse=False)
    torch.testing.assert_close(off, combine("ls", g, weights=[1.0, 4.0]))
    only_rectify = combine("came-grad", g, inject=False, fuse=False)
    weighted = g * torch.tensor([[1.0], [4.0]], dtype=torch.float64)
    torch.testing.assert_close(only_rectify, combine("cagrad", weighted, c=0.5, rescale=0), rtol=1e-9, atol=1e-12)
    agg = create("came-grad").aggregate(g)
    assert {"d_norm", "ls_norm", "gain", "nu_t", "conflict", "s1_cos_ls", "out_norm"} <= set(agg.info)


def test_loss_weighting_methods_need_losses_when_their_weights_depend_on_them() -> None:
    with pytest.raises(MtlbenchError, match="pass losses="):
        combine("famo", _matrix(2, 0))
    d = combine("uw", _matrix(2, 0), torch.tensor([1.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(d, (0.5 * math.exp(0.5)) * _matrix(2, 0).sum(0))


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("cagrad", {"c": -1.0}, "c must be"),
        ("cagrad", {"rescale": 3}, "rescale must be"),
        ("mgda", {"normalization": "l1"}, "normalization must be"),
        ("nashmtl", {"update_weights_every": 0}, "update_weights_every"),
        ("came-grad", {"nu": 1.5}, "nu must be"),
        ("came-grad", {"rectify": "yes"}, "rectify must be"),
        ("aligned-mtl", {"scale_mode": "max"}, "scale_mode must be"),
        ("famo", {"w_lr": 0.0}, "w_lr must be"),
        ("rlar", {"base": "rlar"}, "not rlar itself"),
        ("staged", {"stages": []}, "non-empty"),
        ("fairgrad", {"alpha": 0.0}, "alpha must be"),
        ("sdmgrad", {"momentum": 1.0}, r"momentum must be a number in \[0, 1\)"),
        ("moco", {"normalization": "l1"}, "normalization must be"),
        ("excessmtl", {"warmup_steps": 0}, "warmup_steps must be"),
        ("graddrop", {"leak": 2.0}, "leak must be"),
        ("stch", {"mu": 0.0}, "mu must be"),
        ("stch", {"warmup_epoch": 1.5}, "whole number of epochs"),
    ],
)
def test_bad_hyper_parameters_get_one_clear_line(name: str, params: dict, message: str) -> None:
    with pytest.raises(MtlbenchError, match=message):
        create(name, **params)


def test_bad_gradient_matrices_get_one_clear_line() -> None:
    with pytest.raises(MtlbenchError, match=r"\[K, P\]"):
        combine("pcgrad", torch.ones(3))
    with pytest.raises(MtlbenchError, match="losses must be"):
        combine("mgda", _matrix(2, 0), torch.ones(3, dtype=torch.float64))


def test_every_registered_method_has_a_docstring_naming_its_source() -> None:
    for name in METHODS.names():
        doc = METHODS.get(name).__doc__ or ""
        assert len(doc.split()) >= 8, name
