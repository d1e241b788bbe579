"""Golden values for the methods torchjd lacks, each derived by hand (the derivation is in the test)
or by an independent formula written here from the paper, never copied from mtlbench's output."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

from mtlbench.errors import MtlbenchError
from mtlbench.methods import combine, create

F64 = torch.float64


def _t(*rows: tuple[float, ...]) -> torch.Tensor:
    return torch.tensor(rows, dtype=F64)


# ---------------------------------------------------------------- CAME-Grad (reconstruction)
# g_1 = (1, 0), g_2 = (-1/4, 1/4) with task weights [1, 4]: h_1 = (1, 0), h_2 = (-1, 1), they conflict
# (h_1 . h_2 = -1), g_LS = h_1 + h_2 = (0, 1), |g_LS| = 1.
# S1, CAGrad on h with c = rho = 0.5: g_0 = (0, 1/2), |g_0| = 1/2, radius c |g_0| = 1/4. With
# g_w = x h_1 + (1 - x) h_2 = (2x - 1, 1 - x) the dual is f(x) = (1 - x)/2 + sqrt(5x^2 - 6x + 2)/4;
# f'(x) = 0 gives 5x^2 - 6x + 1 = 0 with the root that keeps 10x - 6 > 0 at x = 1: w* = (1, 0),
# g_w = h_1, |g_w| = 1, lam = 1/4; d = K (g_0 + lam g_w) = 2 (1/4, 1/2) = (1/2, 1), |d| = sqrt(5)/2,
# cos(d, g_LS) = 2/sqrt(5).
# S2: gain = kappa |g_LS| / |d| = 3/sqrt(5); d_E = (1.5/sqrt(5), 3/sqrt(5)).
# S3: conflict, so nu_t = 0.2: out = 0.8 d_E + 0.2 g_LS = (1.2/sqrt(5), 2.4/sqrt(5) + 0.2).
CONFLICTING = _t((1.0, 0.0), (-0.25, 0.25))
ROOT5 = math.sqrt(5.0)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, (1.2 / ROOT5, 2.4 / ROOT5 + 0.2)),
        # S1 off: d = g_LS = (0, 1), gain 1.5 -> (0, 1.5); fused: 0.8 (0, 1.5) + 0.2 (0, 1)
        ({"rectify": False}, (0.0, 1.4)),
        # S2 off: 0.8 (1/2, 1) + 0.2 (0, 1)
        ({"inject": False}, (0.4, 1.0)),
        # S3 off: d_E
        ({"fuse": False}, (1.5 / ROOT5, 3.0 / ROOT5)),
        # every stage off: linear scalarization with the task weights
        ({"rectify": False, "inject": False, "fuse": False}, (0.0, 1.0)),
        # N_ref = mean_i |h_i| = (1 + sqrt 2)/2: gain = 1.5 (1 + sqrt 2) / sqrt 5
        ({"n_ref": "mean", "fuse": False}, tuple(1.5 * (1 + math.sqrt(2)) / ROOT5 * v for v in (0.5, 1.0))),
    ],
)
def test_came_grad_stages_by_hand(params: dict, expected: tuple[float, float]) -> None:
    got = combine("came-grad", CONFLICTING, **params)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=F64), rtol=1e-9, atol=1e-12)


def test_came_grad_diagnostics_by_hand() -> None:
    info = create("came-grad").aggregate(CONFLICTING).info
    expected = {
        "cagrad_lam": 0.25,
        "d_norm": ROOT5 / 2,
        "s1_cos_ls": 2 / ROOT5,
        "gain": 3 / ROOT5,
        "ls_norm": 1.0,
        "nu_t": 0.2,
        "conflict": 1.0,
        "out_norm": math.hypot(1.2 / ROOT5, 2.4 / ROOT5 + 0.2),
    }
    for key, value in expected.items():
        assert info[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert info["cagrad_weights"] == pytest.approx([1.0, 0.0], abs=1e-12)


def test_came_grad_without_conflict_is_linear_scalarization_unless_nu_is_constant() -> None:
    # g_1 = (1, 0), g_2 = (0, 1/4): h_2 = (0, 1), no conflict. S1: g_0 = (1/2, 1/2); |g_w| is smallest at
    # w = (1/2, 1/2), so g_w = g_0 and d = 2 (1 + c) g_0 = (1.5, 1.5); gain = 1.5 sqrt 2 / (1.5 sqrt 2) = 1.
    g = _t((1.0, 0.0), (0.0, 0.25))
    torch.testing.assert_close(combine("came-grad", g), _t((1.0, 1.0))[0])  # nu_t = 1: g_LS
    constant = combine("came-grad", g, nu_schedule="constant")  # 0.8 (1.5, 1.5) + 0.2 (1, 1)
    torch.testing.assert_close(constant, _t((1.4, 1.4))[0], rtol=1e-9, atol=1e-12)


def _came_reference(g: np.ndarray, weights: np.ndarray, rho: float, kappa: float, nu: float) -> np.ndarray:
    """The reconstruction written from methods.md, with the K = 2 CAGrad dual solved by a 1-D search."""
    h = g * weights[:, None]
    g_ls = h.sum(0)
    g0 = h.mean(0)
    radius = rho * np.linalg.norm(g0)

    def dual(x: float) -> float:
        gw = x * h[0] + (1 - x) * h[1]
        return float(gw @ g0 + radius * np.linalg.norm(gw))

    x = minimize_scalar(dual, bounds=(0, 1), method="bounded", options={"xatol": 1e-12}).x
    gw = x * h[0] + (1 - x) * h[1]
    d = 2 * (g0 + radius / np.linalg.norm(gw) * gw)
    d_e = kappa * np.linalg.norm(g_ls) / np.linalg.norm(d) * d
    nu_t = nu if h[0] @ h[1] < 0 else 1.0
    return (1 - nu_t) * d_e + nu_t * g_ls


@pytest.mark.parametrize("seed", range(4))
def test_came_grad_matches_an_independent_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((2, 6))
    g[1] = -0.6 * g[0] + 0.5 * g[1]
    expected = _came_reference(g, np.array([1.0, 4.0]), rho=0.5, kappa=1.5, nu=0.2)
    np.testing.assert_allclose(combine("came-grad", torch.tensor(g)).numpy(), expected, rtol=1e-5, atol=1e-7)


def test_came_grad_task_weights_extend_to_more_tasks_and_are_checked() -> None:
    g = torch.randn(3, 5, dtype=F64, generator=torch.Generator().manual_seed(0))
    off = {"rectify": False, "inject": False, "fuse": False}
    torch.testing.assert_close(combine("came-grad", g, **off), g[0] + 4 * g[1] + g[2])
    with pytest.raises(MtlbenchError, match="one per task"):
        combine("came-grad", g, task_weights=[1.0, 2.0])


# ---------------------------------------------------------------- GradVac
def _gradvac_by_vectors(rows: list[np.ndarray], targets: np.ndarray, beta: float = 0.5) -> np.ndarray:
    """The paper's rule on plain vectors (K = 2: the order cannot matter), updating ``targets``."""
    edited = []
    for i, j in ((0, 1), (1, 0)):
        gi = rows[i].copy()
        phi = gi @ rows[j] / (np.linalg.norm(gi) * np.linalg.norm(rows[j]))
        t = targets[i, j]
        if phi < t:
            lift = np.linalg.norm(gi) * (t * math.sqrt(1 - phi**2) - phi * math.sqrt(1 - t**2))
            gi = gi + rows[j] * lift / (np.linalg.norm(rows[j]) * math.sqrt(1 - t**2))
        targets[i, j] = (1 - beta) * t + beta * phi
        edited.append(gi)
    return edited[0] + edited[1]


def test_gradvac_by_hand_over_two_steps() -> None:
    # g_1 = (1, 0), g_2 = (-1, 1): cos = -1/sqrt 2 < 0 = the initial target. Step 1: g_1' = g_1 + g_2/2 =
    # (1/2, 1/2) (lift |g_1| (1/sqrt 2) / |g_2| = 1/2), g_2' = g_2 + g_1 = (0, 1) (lift sqrt 2 / sqrt 2 = 1),
    # d = (1/2, 3/2); both targets become -1/(2 sqrt 2).
    g = _t((1.0, 0.0), (-1.0, 1.0))
    method = create("gradvac")
    first = method.aggregate(g)
    torch.testing.assert_close(first.direction, _t((0.5, 1.5))[0], rtol=1e-7, atol=1e-8)
    assert first.info["targets"] == pytest.approx([-1 / (2 * math.sqrt(2))] * 2, rel=1e-7)
    # step 2 lifts towards the targets -1/(2 sqrt 2): the rule evaluated on plain vectors
    targets = np.full((2, 2), -1 / (2 * math.sqrt(2)))
    expected = _gradvac_by_vectors([np.array([1.0, 0.0]), np.array([-1.0, 1.0])], targets)
    torch.testing.assert_close(method.aggregate(g).direction, torch.tensor(expected), rtol=1e-7, atol=1e-8)
    method.reset()
    torch.testing.assert_close(method.aggregate(g).direction, first.direction)


# ---------------------------------------------------------------- PCGrad, K = 3
def test_pcgrad_equals_the_rule_for_one_of_the_visiting_orders() -> None:
    """K = 3: the seeded order is one of 2^3 (each task visits the two others in some order)."""
    g = torch.tensor([[1.0, 0.2, 0.0], [-0.8, 1.0, 0.3], [0.1, -1.0, 1.0]], dtype=F64)
    rows = [r.numpy() for r in g]

    def edited(i: int, order: tuple[int, ...]) -> np.ndarray:
        gi = rows[i].copy()
        for j in order:
            if gi @ rows[j] < 0:
                gi = gi - (gi @ rows[j]) / (rows[j] @ rows[j]) * rows[j]
        return gi

    orders = [tuple(p) for p in itertools.permutations(range(3), 2)]
    candidates = {
        tuple(np.round(sum(edited(i, o) for i, o in enumerate(choice)), 12))
        for choice in itertools.product(*[[o for o in orders if i not in o] for i in range(3)])
    }
    got = tuple(np.round(combine("pcgrad", g).numpy(), 12))
    assert got in candidates and len(candidates) > 1  # the orders do differ here


# ---------------------------------------------------------------- loss weighting
def test_famo_first_step_by_hand() -> None:
    # z = (1/2, 1/2); losses (1, 2): weights z_i / (c L_i) with c = sum z_i / L_i = 3/4 -> (2/3, 1/3)
    method = create("famo", max_norm=0.0)
    losses = torch.tensor([1.0, 2.0], dtype=F64)
    assert method.loss_weights(losses).tolist() == pytest.approx([2 / 3, 1 / 3], rel=1e-7)
    method.weighted_loss(losses)
    # After the step the losses are (0.5, 1.8): delta = log L - log L' = (log 2, log(2/1.8)); the logits'
    # gradient z_j (delta_j - z . delta) = +-(log 2 - log(2/1.8))/4; Adam's first step moves each logit by
    # lr * sign = 0.025 against it (weight decay acts on logits 0): logits (-0.025, 0.025).
    method.observe(torch.tensor([0.5, 1.8], dtype=F64))
    z = [1 / (1 + math.exp(0.05)), math.exp(0.05) / (1 + math.exp(0.05))]
    assert method.loss_weights(torch.ones(2, dtype=F64)).tolist() == pytest.approx(z, rel=1e-6)


def test_famo_clips_the_combined_gradient_to_max_norm() -> None:
    g = _t((30.0, 0.0), (0.0, 40.0))
    losses = torch.tensor([1.0, 1.0], dtype=F64)  # weights (1/2, 1/2): d = (15, 20), |d| = 25
    torch.testing.assert_close(combine("famo", g, losses, max_norm=0.0), _t((15.0, 20.0))[0])
    torch.testing.assert_close(combine("famo", g, losses), _t((0.6, 0.8))[0])  # official max_norm 1


def test_dwa_by_hand_for_three_tasks() -> None:
    method = create("dwa")
    method.end_epoch(torch.tensor([2.0, 1.0, 4.0]))
    assert method.loss_weights(torch.ones(3)).tolist() == [1.0, 1.0, 1.0]  # the first two epochs: uniform
    method.end_epoch(torch.tensor([1.0, 1.0, 2.0]))
    # r = (1/2, 1, 1/2); w = 3 exp(r/2) / sum: exp(1/4) = 1.2840254, exp(1/2) = 1.6487213
    total = 2 * math.exp(0.25) + math.exp(0.5)
    expected = [3 * math.exp(0.25) / total, 3 * math.exp(0.5) / total, 3 * math.exp(0.25) / total]
    assert method.loss_weights(torch.ones(3, dtype=F64)).tolist() == pytest.approx(expected, rel=1e-12)
    d = combine("dwa", _t((1.0, 0.0), (0.0, 2.0)), torch.ones(2, dtype=F64))  # a fresh DWA: weights 1
    torch.testing.assert_close(d, _t((1.0, 2.0))[0])


def test_uncertainty_weighting_by_hand() -> None:
    # s = -1/2: weights 1/(2 e^s) = e^{1/2}/2 = 0.8243606; loss with L = (1, 2): 3 e^{1/2}/2 - 1/2;
    # d loss / d s_i = -L_i e^{1/2}/2 + 1/2
    method = create("uw")
    method.setup(2)
    losses = torch.tensor([1.0, 2.0])
    half_root_e = math.exp(0.5) / 2
    assert method.loss_weights(losses).tolist() == pytest.approx([half_root_e] * 2, rel=1e-6)
    total = method.weighted_loss(losses)
    assert float(total.detach()) == pytest.approx(3 * half_root_e - 0.5, rel=1e-6)
    (grad,) = torch.autograd.grad(total, method.extra_parameters())
    assert grad.tolist() == pytest.approx([0.5 - half_root_e, 0.5 - 2 * half_root_e], rel=1e-6)


def test_rlw_draws_softmax_of_normals_each_step_from_its_seed() -> None:
    method = create("rlw", seed=3)
    losses = torch.ones(3, dtype=F64)
    draws = []
    for _ in range(3):
        method.weighted_loss(losses)
        draws.append(method.loss_weights(losses))
    generator = torch.Generator().manual_seed(3)
    for drawn in draws:
        expected = torch.softmax(torch.randn(3, generator=generator, dtype=F64), dim=0)
        torch.testing.assert_close(drawn, expected)
    assert not torch.equal(draws[0], draws[1])


def test_staged_on_a_lone_matrix_sums_the_stage_tasks() -> None:
    g = _t((1.0, 0.0), (0.0, 2.0))
    losses = torch.ones(2, dtype=F64)
    params = {"stages": ["b", "a"], "task_names": ["a", "b"]}
    torch.testing.assert_close(combine("staged", g, losses, **params), _t((0.0, 2.0))[0])
    torch.testing.assert_close(combine("staged", g, losses, stage=1, **params), _t((1.0, 0.0))[0])
    with pytest.raises(MtlbenchError, match="task_names"):
        combine("staged", g, losses)
