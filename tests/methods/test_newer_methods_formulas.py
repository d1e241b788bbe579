"""The newer methods against their official formulas (written here independently, in numpy or
cvxpy), and the properties each one promises: FairGrad's alpha-fairness optimality conditions,
DualProj's projection and non-conflict, STCH's limit to Tchebycheff, GradNorm's norm balancing,
GLS's equivalence to weights 1/(K L_i)."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbench.errors import MtlbenchError
from mtlbench.methods import combine, create

F64 = torch.float64


def _matrix(k: int, seed: int, p: int = 8) -> torch.Tensor:
    g = torch.randn(k, p, dtype=F64, generator=torch.Generator().manual_seed(seed))
    g[1] = -0.6 * g[0] + 0.5 * g[1]
    return g


def _simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the simplex by bisection on the threshold (not the sort rule)."""
    low, high = v.min() - 1, v.max()
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if np.maximum(v - mid, 0).sum() > 1 else (low, mid)
    return np.maximum(v - (low + high) / 2, 0)


# ---------------------------------------------------------------- FairGrad
@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 6), seed=st.integers(0, 10_000), alpha=st.sampled_from([0.3, 1.0, 2.0, 8.0]))
def test_fairgrad_weights_satisfy_the_alpha_fairness_optimality_conditions(k: int, seed: int, alpha: float) -> None:
    """(G w)_i = w_i^(-1/alpha) with w > 0: the update's improvement of task i is w_i^(-1/alpha)."""
    g = torch.randn(k, 12, dtype=F64, generator=torch.Generator().manual_seed(seed))
    agg = create("fairgrad", alpha=alpha, reduction="mean", max_norm=0.0).aggregate(g)
    w = agg.weights
    assert agg.info["fallback"] == 0.0 and bool((w > 0).all())
    torch.testing.assert_close(g @ agg.direction, w.pow(-1 / alpha), rtol=1e-8, atol=0)


def test_fairgrad_with_alpha_one_is_the_nash_bargaining_solution() -> None:
    g = _matrix(4, 3)
    nash = combine("nashmtl", g, max_norm=0.0)
    torch.testing.assert_close(combine("fairgrad", g, reduction="mean", max_norm=0.0), nash, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_fairgrad_scales_as_its_conditions_say(alpha: float) -> None:
    """G -> a^2 G scales w by a^(-2 alpha/(1+alpha)), so d(a J) = a^((1-alpha)/(1+alpha)) d(J)."""
    g, a = _matrix(3, 5), 7.0
    params = {"alpha": alpha, "reduction": "mean", "max_norm": 0.0}
    expected = a ** ((1 - alpha) / (1 + alpha)) * combine("fairgrad", g, **params)
    torch.testing.assert_close(combine("fairgrad", a * g, **params), expected, rtol=1e-9, atol=0)


def test_fairgrad_clips_and_falls_back_when_no_fair_point_exists(caplog: pytest.LogCaptureFixture) -> None:
    g = _matrix(2, 1) * 50
    agg = create("fairgrad").aggregate(g)  # official: x K, then clipped to norm 1
    assert float(agg.direction.norm()) == pytest.approx(1.0, rel=1e-12) and agg.info["clip_scale"] < 1
    g[1] = -g[0]  # cancelling gradients: no w > 0 satisfies the conditions
    agg = create("fairgrad", max_norm=0.0).aggregate(g)
    assert agg.info["fallback"] == 1.0 and "fairgrad" in caplog.text
    torch.testing.assert_close(agg.direction, g.sum(0))  # uniform 1/K, times K


# ---------------------------------------------------------------- DualProj
def test_dualproj_is_the_projection_of_the_mean_gradient_onto_the_dual_cone() -> None:
    """The primal problem min |x - g_0|^2 s.t. J x >= 0, solved by cvxpy (our solver works on its dual)."""
    g = _matrix(4, 2, p=6)
    x = cp.Variable(6)
    mean = g.mean(0).numpy()
    cp.Problem(cp.Minimize(cp.sum_squares(x - mean)), [g.numpy() @ x >= 0]).solve()
    np.testing.assert_allclose(combine("dualproj", g).numpy(), x.value, atol=1e-6)
    assert float((g @ combine("dualproj", g)).min()) >= -1e-12


# ---------------------------------------------------------------- STCH
def test_stch_tends_to_tchebycheff_as_mu_goes_to_zero() -> None:
    """Smooth max -> max: the weight of every task but the worst (largest L_i / n_i) vanishes."""
    losses = torch.tensor([1.0, 3.0, 2.0], dtype=F64)
    nadir = torch.tensor([1.0, 2.0, 0.5], dtype=F64)  # L / n = (1, 1.5, 4): task 2 is the worst
    others = []
    for mu in (1.0, 0.1, 0.02):
        method = create("stch", mu=mu, warmup_epoch=0)
        method.weighted_loss(nadir)  # epoch 0 (the warm-up) averages the losses into the nadir point
        method.start_epoch(1, 2)
        weights = method.loss_weights(losses)
        others.append(float((weights[:2] * losses[:2]).max()))  # their shares K softmax(f / mu)_i
    # the runner-up's share 3 * 1.5^(1/mu) / (1 + 1.5^(1/mu) + 4^(1/mu)): 0.69 at mu = 1, 1.6e-4 at 0.1, 2e-21 at 0.02
    assert others[0] > 0.6 and 1e-4 < others[1] < 1e-3 and others[2] < 1e-20
    assert float(weights[2]) == pytest.approx(3 / 2.0, rel=1e-12)  # K / L_worst: the Tchebycheff gradient


# ---------------------------------------------------------------- GLS
def test_gls_is_linear_scalarization_with_weights_one_over_k_l_times_the_geometric_mean() -> None:
    g = _matrix(3, 4)
    losses = torch.tensor([0.5, 2.0, 4.0], dtype=F64)
    geometric_mean = 4 ** (1 / 3)  # (0.5 * 2 * 4)^(1/3)
    log_mean_direction = (1 / (3 * losses)) @ g  # the gradient of mean_i log L_i
    torch.testing.assert_close(combine("gls", g, losses), geometric_mean * log_mean_direction)
    torch.testing.assert_close(create("gls").loss_weights(losses), geometric_mean / (3 * losses))
    torch.testing.assert_close(combine("gls", g, torch.tensor([0.0, 1.0, 2.0], dtype=F64)), 0 * g[0])
    with pytest.raises(MtlbenchError, match=r"^gls: the geometric mean needs non-negative task losses; got"):
        combine("gls", g, torch.tensor([-0.5, 1.0, 2.0], dtype=F64))


# ---------------------------------------------------------------- GradNorm
def test_gradnorm_writes_the_gradient_of_its_balance_loss() -> None:
    """dL_grad/ds by central differences of sum_i |K softmax(s)_i n_i - mean_j(...) r_i^alpha|."""
    g, k, alpha = _matrix(3, 6), 3, 1.5
    method = create("gradnorm", alpha=alpha)
    method.setup(k)
    s0 = np.array([0.2, -0.1, 0.3])
    with torch.no_grad():
        method.log_scales.copy_(torch.tensor(s0))
    method.aggregate(g, torch.tensor([1.0, 2.0, 0.5], dtype=F64))  # the initial losses
    method.log_scales.grad = None
    losses = np.array([0.8, 1.0, 0.45])
    method.aggregate(g, torch.tensor(losses, dtype=F64))
    norms = g.norm(dim=1).numpy()
    rates = losses / np.array([1.0, 2.0, 0.5])
    target_shape = (rates / rates.mean()) ** alpha

    def balance(s: np.ndarray, target_at: np.ndarray) -> float:
        w = k * np.exp(s) / np.exp(s).sum()
        wt = k * np.exp(target_at) / np.exp(target_at).sum()
        return float(np.abs(w * norms - (wt * norms).mean() * target_shape).sum())

    h = 1e-6
    numeric = [(balance(s0 + h * e, s0) - balance(s0 - h * e, s0)) / (2 * h) for e in np.eye(k)]
    np.testing.assert_allclose(method.log_scales.grad.numpy(), numeric, rtol=1e-6, atol=1e-9)


def test_gradnorm_balances_the_weighted_gradient_norms() -> None:
    """Trained on fixed gradients whose norms differ 25-fold, with equal training rates, the weighted
    norms w_i |g_i| become equal (the balance GradNorm is named for); unequal rates r_i order them
    as r_i^alpha does (an exact r_i^alpha profile is out of reach of the L1 balance when the mean of
    r_i^alpha is not 1)."""
    g = _matrix(3, 7) * torch.tensor([[1.0], [5.0], [0.2]], dtype=F64)
    for rates in ((1.0, 1.0, 1.0), (1.0, 0.5, 0.8)):
        method = create("gradnorm")
        method.setup(3)
        optimizer = torch.optim.SGD(method.extra_parameters(), lr=2e-3)
        first = method.aggregate(g, torch.ones(3, dtype=F64))
        for _ in range(2000):
            optimizer.zero_grad()
            agg = method.aggregate(g, torch.tensor(rates, dtype=F64))
            optimizer.step()
        weighted = torch.tensor(agg.info["weighted_norms"], dtype=F64)
        assert agg.info["balance_loss"] < 0.05 * first.info["balance_loss"]
        assert sum(agg.info["weights"]) == pytest.approx(3.0)
        if len(set(rates)) == 1:
            torch.testing.assert_close(weighted / weighted.mean(), torch.ones(3, dtype=F64), rtol=1e-2, atol=0)
        else:
            assert torch.argsort(weighted).tolist() == torch.argsort(torch.tensor(rates)).tolist()


# ---------------------------------------------------------------- IMTL (hybrid)
def _imtl_reference(g: np.ndarray, s: np.ndarray) -> np.ndarray:
    """LibMTL's IMTL: IMTL-G's closed form (D, U from the first row) on the gradients of e^s L - s."""
    scaled = g * np.exp(s)[:, None]
    units = scaled / np.linalg.norm(scaled, axis=1, keepdims=True)
    d = scaled[0] - scaled[1:]
    u = units[0] - units[1:]
    alpha = scaled[0] @ u.T @ np.linalg.inv(d @ u.T)
    alpha = np.concatenate([[1 - alpha.sum()], alpha])
    return alpha @ scaled


def test_imtl_is_imtl_g_on_the_scaled_losses_and_trains_the_scales_as_imtl_l() -> None:
    g = _matrix(3, 8)
    losses = torch.tensor([0.5, 2.0, 1.2], dtype=F64)
    method = create("imtl")
    method.setup(3)
    s = torch.tensor([0.4, -0.3, 0.1])
    with torch.no_grad():
        method.log_scales.copy_(s)
    np.testing.assert_allclose(method.aggregate(g, losses).direction.numpy(), _imtl_reference(g.numpy(), s.numpy()))
    torch.testing.assert_close(method.log_scales.grad, (torch.exp(s.double()) * losses - 1).float())
    torch.testing.assert_close(combine("imtl", g, losses), combine("imtl-g", g))  # s = 0 at the start


# ---------------------------------------------------------------- MoCo and DB-MTL
def test_moco_follows_its_first_authors_rule_over_three_steps() -> None:
    """y <- y - beta_t (y - g); lambda <- Proj(lambda - gamma_t (Y_n Y_n^T + rho I) lambda); d = Y_n^T lambda."""
    beta, gamma, rho, sigma = 0.3, 0.2, 0.1, 0.5
    method = create("moco", beta=beta, gamma=gamma, rho=rho, beta_sigma=sigma, gamma_sigma=sigma, normalization="l2")
    y, lam = np.zeros((3, 8)), np.full(3, 1 / 3)
    for t in range(1, 4):
        g = _matrix(3, t)
        y = y - beta / t**sigma * (y - g.numpy())
        y_n = y / np.linalg.norm(y, axis=1, keepdims=True)
        lam = _simplex(lam - gamma / t**sigma * (y_n @ y_n.T @ lam + rho * lam))
        np.testing.assert_allclose(method.aggregate(g).direction.numpy(), lam @ y_n, rtol=1e-9, atol=1e-12)


def test_db_mtl_follows_the_official_rule_over_three_steps() -> None:
    """b <- (1 - beta_t) g / (L + eps) + beta_t b; d = sum_i max_j |b_j| / (|b_i| + eps) b_i."""
    method = create("db-mtl", beta=0.9, beta_sigma=0.5)
    b = np.zeros((3, 8))
    for t in range(1, 4):
        g, losses = _matrix(3, t).numpy(), np.array([0.5, 2.0, 1.0]) * t
        beta_t = 0.9 / t**0.5
        b = (1 - beta_t) * g / (losses[:, None] + 1e-8) + beta_t * b
        norms = np.linalg.norm(b, axis=1)
        expected = (norms.max() / (norms + 1e-8)) @ b
        got = method.aggregate(torch.tensor(g), torch.tensor(losses)).direction.numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- listing
def test_the_listing_names_every_newer_method_in_one_complete_line() -> None:
    from click.testing import CliRunner

    from mtlbench.cli.listing import list_command

    newer = ["fairgrad", "sdmgrad", "moco", "modo", "excessmtl", "graddrop", "dualproj", "db-mtl"]
    newer += ["gradnorm", "imtl", "imtl-l", "stch", "gls"]
    lines = {line.split()[0]: line for line in CliRunner().invoke(list_command, ["methods"]).output.splitlines()}
    for name in newer:
        assert lines[name].endswith(".") and "  -  " in lines[name], lines.get(name)
