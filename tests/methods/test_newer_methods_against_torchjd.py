"""The newer methods against torchjd 0.18, which has FairGrad, DualProj, SDMGrad, MoDo, ExcessMTL,
GradDrop, STCH, IMTL-L and the geometric mean (GLS).

Convention mapping (each test says its own): torchjd's aggregators return the combination of
the rows with their weights as they are (our ``reduction="mean"``) and never clip (our
``max_norm=0``); its SDMGrad and MoDo weightings take the matrix A = J_1 J_2^T of two batches,
which with one batch is the Gram matrix mtlbench uses. Stateful ones are compared over several
steps, so the carried state is checked too.
"""

from __future__ import annotations

import pytest
import torch
from torchjd import aggregation as jd
from torchjd import scalarization as jds
from torchjd._linalg._dual_cone import QuadprogProjector

from mtlbench.methods import combine, create

F64 = torch.float64
KS = (2, 3, 5)


def conflicting(k: int, seed: int = 0, p: int = 9) -> torch.Tensor:
    """A [K, p] float64 matrix whose first two rows conflict (negative cosine)."""
    g = torch.randn(k, p, dtype=F64, generator=torch.Generator().manual_seed(seed))
    g[1] = -0.8 * g[0] + 0.3 * g[1]
    return g


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0, 5.0])
def test_fairgrad_matches_torchjd_to_its_solver_tolerance(k: int, alpha: float) -> None:
    """torchjd runs scipy's least_squares (tolerance 1e-8); we solve exactly: agreement to 1e-7."""
    g = conflicting(k, seed=k)
    ours = combine("fairgrad", g, alpha=alpha, reduction="mean", max_norm=0.0)
    torch.testing.assert_close(ours, jd.FairGrad(alpha=alpha)(g), rtol=0, atol=1e-7)
    official = combine("fairgrad", g, alpha=alpha, max_norm=0.0)  # the official trainer's x K
    torch.testing.assert_close(official, k * ours, rtol=1e-12, atol=0)


@pytest.mark.parametrize("k", KS)
def test_dualproj_matches_torchjd_with_an_exact_projector(k: int) -> None:
    """torchjd's default projector adds a 1e-4 ridge (2e-4 away); without it, agreement to rounding."""
    g = conflicting(k, seed=k)
    exact = QuadprogProjector(norm_eps=0.0, reg_eps=0.0)
    torch.testing.assert_close(combine("dualproj", g), jd.DualProj(projector=exact)(g), rtol=1e-9, atol=1e-12)
    summed = jd.DualProj(pref_vector=torch.ones(k, dtype=F64), projector=exact)(g)
    torch.testing.assert_close(combine("dualproj", g, reduction="sum"), summed, rtol=1e-9, atol=1e-12)


def _steps(k: int, n: int, seed: int, aligned: float) -> list[torch.Tensor]:
    """n matrices; ``aligned`` > 0 adds a common row so the weights stay inside the simplex."""
    out = []
    for step in range(n):
        g = conflicting(k, seed=100 * seed + step)
        out.append(g + aligned * g[0])
    return out


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize(("aligned", "small_steps"), [(0.0, False), (2.0, False), (2.0, True)])
def test_sdmgrad_and_modo_match_torchjd_step_after_step(k: int, aligned: float, small_steps: bool) -> None:
    """Their warm-started weights carry over five steps alike (to rounding); with the official step
    sizes they often sit on a vertex of the simplex, with small ones inside it."""
    sdm_params, modo_params = ({"lr": 0.2}, {"gamma": 0.005}) if small_steps else ({}, {})
    sdm, modo = create("sdmgrad", reduction="mean", max_norm=0.0, **sdm_params), create("modo", **modo_params)
    sdm_jd, modo_jd = jd.SDMGradWeighting(**sdm_params), jd.MoDoWeighting(**modo_params)
    interior = []
    for g in _steps(k, 5, k, aligned):
        ours_sdm, ours_modo = sdm.aggregate(g), modo.aggregate(g)
        torch.testing.assert_close(ours_sdm.direction, sdm_jd(g @ g.T) @ g, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(ours_modo.direction, modo_jd(g @ g.T) @ g, rtol=1e-10, atol=1e-12)
        interior += [0 < w < 1 for w in ours_sdm.info["simplex_weights"] + ours_modo.info["lambda"]]
    assert any(interior) or not small_steps


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("warmup", [1, 3])
def test_excessmtl_matches_torchjd_step_after_step(k: int, warmup: int) -> None:
    """torchjd's n_warmup_steps = our warmup_steps; it adds 1e-7 to the baseline (about 0.1 here),
    which moves the update by up to 1e-6 of its largest entry: that is the tolerance."""
    ours = create("excessmtl", robust_step_size=0.5, warmup_steps=warmup, reduction="mean")
    theirs = jd.ExcessMTL(robust_step_size=0.5, n_warmup_steps=warmup)
    for g in _steps(k, 6, k, 0.0):
        expected = theirs(g)
        tolerance = 1e-6 * float(expected.abs().max())
        torch.testing.assert_close(ours.aggregate(g).direction, expected, rtol=0, atol=tolerance)
    assert len(set(ours.aggregate(g).info["weights"])) == k  # the weights did move apart


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("leak", [0.0, 0.3])
def test_graddrop_on_a_plain_matrix_matches_torchjd_with_the_same_draws(k: int, leak: float) -> None:
    """Without a representation the rows are not batch-separated: torchjd's lines 10-15 exactly."""
    g = conflicting(k, seed=k)
    for seed in (0, 7):
        torch.manual_seed(seed)  # torchjd draws from the global generator, we from a seeded one
        theirs = jd.GradDrop(leak=torch.full((k,), leak, dtype=F64))(g)
        torch.testing.assert_close(combine("graddrop", g, seed=seed, leak=leak), theirs, rtol=1e-12, atol=1e-14)
    assert not torch.equal(combine("graddrop", g, seed=0), g.sum(0))  # something was dropped


def _loss_gradient(scalar: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(scalar, losses)
    return grad


@pytest.mark.parametrize("mu", [0.05, 1.0])
def test_stch_weights_are_the_gradient_of_torchjds_smooth_maximum(mu: float) -> None:
    """After the warm-up: d/dL of K * torchjd.STCH(mu, weights 1) at f = log(L / nadir + 1e-20)."""
    method = create("stch", mu=mu, warmup_epoch=0)
    method.start_epoch(0, 3)
    warmup = [torch.tensor(v, dtype=F64) for v in ([2.0, 0.5, 1.0], [1.0, 0.7, 3.0])]
    for losses in warmup:
        torch.testing.assert_close(method.loss_weights(losses), 1 / (losses + 1e-20))  # sum of log losses
        method.weighted_loss(losses)
    nadir = (warmup[0] + warmup[1]) / 2
    method.start_epoch(1, 3)
    losses = torch.tensor([1.2, 0.4, 2.5], dtype=F64, requires_grad=True)
    smooth_max = jds.STCH(mu=mu, weights=torch.ones(3, dtype=F64))(torch.log(losses / nadir + 1e-20))
    expected = _loss_gradient(3 * smooth_max, losses)
    method.weighted_loss(losses.detach())  # fixes the nadir point
    torch.testing.assert_close(method.loss_weights(losses.detach()), expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(method.nadir, nadir)


def test_imtl_l_matches_torchjd_in_value_and_in_both_gradients() -> None:
    ours, theirs = create("imtl-l"), jds.IMTLL(3)
    ours.setup(3)
    with torch.no_grad():
        ours.log_scales.copy_(torch.tensor([0.3, -0.2, 0.0]))
        theirs.log_scale.copy_(torch.tensor([0.3, -0.2, 0.0]))
    losses = torch.tensor([1.5, 0.2, 0.9], requires_grad=True)
    mine, reference = ours.weighted_loss(losses), theirs(losses)
    torch.testing.assert_close(mine, reference)
    for ours_grad, their_grad in zip(
        torch.autograd.grad(mine, [losses, ours.log_scales]), torch.autograd.grad(reference, [losses, theirs.log_scale])
    ):
        torch.testing.assert_close(ours_grad, their_grad)
    torch.testing.assert_close(ours.loss_weights(losses.detach()), torch.exp(theirs.log_scale.detach()))


def test_gls_matches_torchjds_geometric_mean_in_value_and_gradient() -> None:
    losses = torch.tensor([1.5, 0.2, 0.9, 3.0], dtype=F64, requires_grad=True)
    reference = jds.GeometricMean()(losses)
    mine = create("gls").weighted_loss(losses)
    torch.testing.assert_close(mine, reference, rtol=1e-14, atol=0)
    torch.testing.assert_close(_loss_gradient(mine, losses), _loss_gradient(reference, losses), rtol=1e-14, atol=0)
