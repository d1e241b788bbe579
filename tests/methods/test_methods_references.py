"""Every method against independent implementations: torchjd, cvxpy/scipy solutions of the papers' problems."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from torchjd import aggregation as jd
from torchjd._linalg._dual_cone import QuadprogProjector

from mtlbench.methods import combine, create


def conflicting(k: int, seed: int = 0) -> torch.Tensor:
    """A [K, 9] float64 matrix whose first two rows conflict (negative cosine)."""
    g = torch.randn(k, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    g[1] = -0.8 * g[0] + 0.3 * g[1]
    return g


KS = (2, 3, 5)


@pytest.mark.parametrize("k", KS)
def test_matches_torchjd_to_rounding(k: int) -> None:
    g = conflicting(k)
    pairs = {
        "ls": (combine("ls", g), jd.Sum()(g)),
        "ls-mean": (combine("ls", g, reduction="mean"), jd.Mean()(g)),
        "imtl-g": (combine("imtl-g", g), jd.IMTLG()(g)),
        "aligned-mtl": (combine("aligned-mtl", g, reduction="mean"), jd.AlignedMTL()(g)),
        "aligned-mtl-sum": (combine("aligned-mtl", g), jd.AlignedMTL(pref_vector=torch.ones(k, dtype=g.dtype))(g)),
        "aligned-mtl-median": (
            combine("aligned-mtl", g, reduction="mean", scale_mode="median"),
            jd.AlignedMTL(scale_mode="median")(g),
        ),
        "aligned-mtl-rmse": (
            combine("aligned-mtl", g, reduction="mean", scale_mode="rmse"),
            jd.AlignedMTL(scale_mode="rmse")(g),
        ),
        "config": (combine("config", g), jd.ConFIG()(g)),
    }
    if k == 2:
        pairs["pcgrad"] = (combine("pcgrad", g), jd.PCGrad()(g))
    for name, (ours, theirs) in pairs.items():
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.parametrize("k", KS)
def test_matches_torchjd_iterative_solvers_to_their_tolerance(k: int) -> None:
    """torchjd solves CAGrad, MGDA and Nash-MTL iteratively (cvxpy, Frank-Wolfe): close, not exact."""
    g = conflicting(k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nash = jd.NashMTL(n_tasks=k, max_norm=0.0)(g)
    torch.testing.assert_close(combine("nashmtl", g, max_norm=0.0), nash, rtol=0, atol=1e-6)
    torch.testing.assert_close(
        combine("cagrad", g, c=0.4, rescale=0, reduction="mean"), jd.CAGrad(c=0.4)(g), rtol=0, atol=1e-4
    )
    tight_mgda = jd.MGDA(epsilon=1e-12, max_iters=100_000)(g)
    # Frank-Wolfe converges sublinearly: 5e-4 after 1e5 iterations; the cvxpy test below is exact
    torch.testing.assert_close(combine("mgda", g, normalization="none"), tight_mgda, rtol=0, atol=5e-4)
    exact_upgrad = jd.UPGrad(projector=QuadprogProjector(norm_eps=0.0, reg_eps=0.0))(g)
    torch.testing.assert_close(combine("upgrad", g), exact_upgrad, rtol=0, atol=1e-8)


def _simplex_min(objective, k: int) -> np.ndarray:
    result = minimize(
        objective,
        np.full(k, 1.0 / k),
        method="SLSQP",
        bounds=[(0, 1)] * k,
        constraints={"type": "eq", "fun": lambda w: w.sum() - 1},
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return result.x


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("rescale", [0, 1, 2])
def test_cagrad_matches_the_official_formula_solved_by_scipy(k: int, rescale: int) -> None:
    """The official cagrad(): SLSQP on the dual, then (g0 + c|g0|/|gw| gw) / (1 + c^2 | 1 + c), times K."""
    g = conflicting(k, seed=1).numpy()
    c = 0.4
    gg = g @ g.T
    g0 = gg.mean(1)
    g0_norm = np.sqrt(g0.mean())
    w = _simplex_min(lambda w: w @ g0 + c * g0_norm * np.sqrt(w @ gg @ w + 1e-8), k)
    gw = w @ g
    d = g.mean(0) + c * g0_norm / np.linalg.norm(gw) * gw
    d = d / {0: 1, 1: 1 + c**2, 2: 1 + c}[rescale] * k
    ours = combine("cagrad", torch.tensor(g), c=c, rescale=rescale).numpy()
    np.testing.assert_allclose(ours, d, atol=2e-5)


@pytest.mark.parametrize("k", (3, 5))
@pytest.mark.parametrize("normalization", ["none", "l2", "loss", "loss+"])
def test_mgda_normalisations_match_the_min_norm_problem_solved_by_cvxpy(k: int, normalization: str) -> None:
    g = conflicting(k, seed=2)
    losses = torch.linspace(0.5, 2.0, k, dtype=torch.float64)
    norms = g.norm(dim=1)
    n = {"none": torch.ones(k), "l2": norms, "loss": losses, "loss+": losses * norms}[normalization]
    scaled = (g / n[:, None].to(g.dtype)).numpy()
    w = cp.Variable(k)
    cp.Problem(cp.Minimize(cp.sum_squares(scaled.T @ w)), [w >= 0, cp.sum(w) == 1]).solve()
    expected = g.numpy().T @ w.value  # the weights scale the RAW gradients, as the official code
    ours = combine("mgda", g, torch.ones(k, dtype=torch.float64) * losses, normalization=normalization).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-6)


def test_upgrad_matches_its_definition_solved_by_cvxpy() -> None:
    g = conflicting(5, seed=3)
    gram = (g @ g.T).numpy()
    weights = np.zeros(5)
    for i in range(5):
        v = cp.Variable(5)
        cp.Problem(cp.Minimize(cp.quad_form(v, cp.psd_wrap(gram))), [v >= np.eye(5)[i]]).solve()
        weights += v.value / 5
    np.testing.assert_allclose(combine("upgrad", g).numpy(), g.numpy().T @ weights, atol=1e-6)


GOLDEN = torch.tensor([[4.0, -1.0, 2.0, 0.0], [-3.0, 2.0, 1.0, 1.0], [1.0, 1.0, -2.0, 3.0]], dtype=torch.float64)


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("ls", {}, [2.0, 2.0, 1.0, 4.0]),
        ("pcgrad", {}, None),
        ("mgda", {"normalization": "none"}, None),
        ("cagrad", {}, None),
        ("nashmtl", {"max_norm": 0.0}, None),
        ("imtl-g", {}, None),
        ("upgrad", {}, None),
        ("aligned-mtl", {}, None),
        ("config", {}, None),
    ],
)
def test_golden_values_on_a_fixed_matrix(name: str, params: dict, expected: list[float] | None) -> None:
    """Pinned outputs on one small integer matrix (K = 3), so any change of behaviour is seen."""
    got = combine(name, GOLDEN, torch.ones(3, dtype=torch.float64), **params)
    torch.testing.assert_close(got, torch.tensor(expected or PINNED[name], dtype=torch.float64), rtol=1e-7, atol=1e-9)


PINNED: dict[str, list[float]] = {
    # outputs of this implementation, cross-checked by the tests above; a change must be deliberate
    "pcgrad": [2.1428571429, 3.0476190476, 2.9047619048, 5.0],
    "mgda": [0.3202846975, 0.7028469751, 0.8451957295, 0.9786476868],
    "cagrad": [1.3662598413, 2.567968891, 2.1918527957, 4.0517650121],
    "nashmtl": [0.4736407699, 0.7985776526, 0.711968943, 1.277121129],
    "imtl-g": [0.3569721747, 0.6806960455, 0.8825754233, 0.9502668082],
    "upgrad": [0.7127425783, 1.0614221328, 0.9941147987, 1.72827504],
    "aligned-mtl": [1.208942955, 1.8499422368, 1.663809835, 3.0197494179],
    "config": [1.0616198567, 2.024360691, 2.6247412566, 2.8260525169],
}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradvac_matches_torchjd_over_several_steps(seed: int) -> None:
    """K = 2 (the visiting order cannot matter): the EMA targets carry over between steps alike."""
    ours, theirs = create("gradvac"), jd.GradVac()
    for step in range(4):
        g = conflicting(2, seed=10 * seed + step)
        torch.testing.assert_close(ours.aggregate(g).direction, theirs(g), rtol=1e-9, atol=1e-12)
