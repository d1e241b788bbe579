"""Exact small solvers on the K x K Gram matrix, in float64 on the Gram matrix's device.

Official MTL codebases pull G to the CPU and call scipy SLSQP (CAGrad), an approximate
Frank-Wolfe (MGDA), cvxpy/ECOS in a loop (Nash-MTL) or quadprog (UPGrad). K is tiny, so
finite active-set methods and a damped Newton method solve the same problems to machine
precision, need no extra package, and never move data between devices. Each returns a
``Solution`` with its iteration count and optimality residual so callers can log them and
fall back when a solve did not converge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from mtlbench.methods._linalg import TINY, solve_small


@dataclass(frozen=True)
class Solution:
    """A solver's answer and how sure it is."""

    x: Tensor
    """[K] float64 solution."""
    iterations: int
    residual: float
    """Largest violation of the optimality (KKT) conditions, in the units of the normalised G."""
    converged: bool


NONSMOOTH = 1e-10
"""|g_w| below this (G normalised to unit largest diagonal) is treated as the kink at g_w = 0."""


def simplex_minimize(
    gram: Tensor,
    linear: Tensor | None = None,
    radius: float = 1.0,
    *,
    max_iter: int = 200,
    tol: float = 1e-11,
) -> Solution:
    """argmin over the simplex of ``linear . w + radius * sqrt(w^T G w)``.

    With ``linear = 0`` this is MGDA's min-norm point; with ``linear = G 1/K`` and
    ``radius = c |g_0|`` it is CAGrad's dual. A primal active-set method in the manner of
    Wolfe's min-norm-point algorithm: on a support S the minimiser over the affine hull has a
    closed form (``_affine_minimizer``); the support grows by the most violating vertex and
    shrinks when a weight reaches zero. Finite, exact up to rounding. ``gram`` should be
    normalised (largest diagonal 1) so that ``tol`` is relative.
    """
    k = gram.shape[0]
    zeros = torch.zeros(k, dtype=gram.dtype, device=gram.device)
    b = zeros if linear is None else linear
    vertex_norms = gram.diagonal().clamp_min(0).sqrt()
    w = zeros.clone()
    start = int(torch.argmin(b + radius * vertex_norms))
    w[start] = 1.0
    support = [start]
    iterations = 0
    converged = False
    residual = math.inf
    while True:
        if linear is None:  # pure min-norm: the KKT conditions of |g_w|^2 stay regular at g_w = 0
            grad = gram @ w
            level = grad @ w
        else:
            grad, level = _simplex_gradient(gram, b, radius, w, vertex_norms)
        free = [i for i in range(k) if i not in support]
        spread = float((grad[support] - level).abs().max())
        violation = float((level - grad[free]).max()) if free else -math.inf
        residual = max(spread, violation, 0.0)
        if violation <= tol:
            converged = True
            break
        if iterations >= max_iter:
            break
        support.append(free[int(torch.argmin(grad[free]))])
        while iterations < max_iter:
            iterations += 1
            x = w[support]
            target, ray = _affine_minimizer(gram, b, radius, support)
            if target is not None and bool((target > 0).all()):
                w = zeros.clone()
                w[support] = target
                break
            step = target - x if target is not None else ray
            falling = step < 0
            if not bool(falling.any()):
                iterations = max_iter  # no face to stop at: numerically degenerate, give up
                break
            ratios = torch.where(falling, x / (-step).clamp_min(TINY), torch.full_like(x, math.inf))
            blocking = int(torch.argmin(ratios))
            theta = float(ratios[blocking])
            if target is not None:
                theta = min(theta, 1.0)
            x = (x + theta * step).clamp_min(0)
            keep = [pos for pos in range(len(support)) if pos != blocking and float(x[pos]) > 0]
            support = [support[pos] for pos in keep]
            w = zeros.clone()
            w[support] = x[keep] / x[keep].sum()
            if len(support) == 1:
                break
    return Solution(w, iterations, residual, converged)


def _simplex_gradient(gram: Tensor, b: Tensor, radius: float, w: Tensor, vertex_norms: Tensor) -> tuple[Tensor, Tensor]:
    """Per-vertex slopes and the level they are compared with: moving weight towards vertex j
    lowers the objective iff slope_j < level."""
    gw = gram @ w
    norm = float(w @ gw) ** 0.5 if float(w @ gw) > 0 else 0.0
    if norm > NONSMOOTH:
        grad = b + radius * gw / norm
        return grad, grad @ w
    # At g_w = 0 the norm term is not differentiable; the slope towards e_j is b_j - b.w + r|g_j|.
    return b + radius * vertex_norms, b @ w


def _affine_minimizer(gram: Tensor, b: Tensor, radius: float, support: list[int]) -> tuple[Tensor | None, Tensor]:
    """Minimiser of ``b.w + r |g_w|`` over the affine hull {w_S : sum w_S = 1}.

    With M = [[G_SS, -1], [1^T, 0]], w_a solves M [w; l] = [0; 1] (the affine min-norm point,
    G w_a = l 1) and v solves M [v; l'] = [-b; 0]. On the hull w = w_a + u with 1^T u = 0 and
    the objective is const - <v, u>_G + r sqrt(A + |u|_G^2) with A = |g_{w_a}|^2, so the
    minimiser is w_a + t v with t = sqrt(A / (r^2 - C)), C = |g_v|^2, when r^2 > C. Otherwise
    the objective falls without bound along +v, returned as the ray to follow.
    """
    idx = torch.tensor(support, device=gram.device)
    n = len(support)
    sub = gram[idx][:, idx]
    system = torch.zeros(n + 1, n + 1, dtype=gram.dtype, device=gram.device)
    system[:n, :n] = sub
    system[:n, n] = -1.0
    system[n, :n] = 1.0
    rhs = torch.zeros(n + 1, 2, dtype=gram.dtype, device=gram.device)
    rhs[n, 0] = 1.0
    rhs[:n, 1] = -b[idx]
    sol = solve_small(system, rhs)
    w_a, v = sol[:n, 0], sol[:n, 1]
    a = max(float(w_a @ sub @ w_a), 0.0)
    c = max(float(v @ sub @ v), 0.0)
    r2 = radius * radius
    if r2 > c * (1 + 1e-12):
        return w_a + math.sqrt(a / (r2 - c)) * v, v
    return None, v


def min_norm_weights(gram: Tensor, *, max_iter: int = 200, tol: float = 1e-11) -> Solution:
    """MGDA: argmin over the simplex of w^T G w. Closed form for K = 2, active set for K > 2."""
    if gram.shape[0] == 2:
        g11, g12, g22 = float(gram[0, 0]), float(gram[0, 1]), float(gram[1, 1])
        denom = g11 + g22 - 2 * g12
        first = 0.5 if denom <= TINY else min(max((g22 - g12) / denom, 0.0), 1.0)
        w = torch.tensor([first, 1.0 - first], dtype=gram.dtype, device=gram.device)
        gw = gram @ w
        level = w @ gw
        residual = max(float((level - gw).max()), float(((gw - level) * w).abs().max()), 0.0)
        return Solution(w, 0, residual, True)
    return simplex_minimize(gram, max_iter=max_iter, tol=tol)


def nonneg_quadratic(gram: Tensor, linear: Tensor, *, max_iter: int = 200, tol: float = 1e-11) -> Solution:
    """argmin over z >= 0 of ``1/2 z^T G z + linear . z`` (Lawson-Hanson active set, Gram form).

    Used for UPGrad's projection onto the dual cone: min_{v >= u} v^T G v with v = u + z,
    linear = G u. The passive set stays linearly independent in exact arithmetic (an entering
    index has a negative gradient, so its row is not in the span of the passive rows), so the
    small systems are regular; the pseudo-inverse covers rounding.
    """
    k = gram.shape[0]
    z = torch.zeros(k, dtype=gram.dtype, device=gram.device)
    passive: list[int] = []
    iterations = 0
    converged = False
    residual = math.inf
    while True:
        grad = gram @ z + linear
        free = [i for i in range(k) if i not in passive]
        spread = float(grad[passive].abs().max()) if passive else 0.0
        violation = float((-grad[free]).max()) if free else -math.inf
        residual = max(spread, violation, 0.0)
        if violation <= tol:
            converged = True
            break
        if iterations >= max_iter:
            break
        passive.append(free[int(torch.argmin(grad[free]))])
        while iterations < max_iter and passive:
            iterations += 1
            idx = torch.tensor(passive, device=gram.device)
            trial = solve_small(gram[idx][:, idx], -linear[idx])
            if bool((trial > 0).all()):
                z = torch.zeros_like(z)
                z[idx] = trial
                break
            current = z[idx]
            falling = trial <= 0
            gap = current - trial
            ratios = torch.where(falling, current / gap.clamp_min(TINY), torch.full_like(current, math.inf))
            ratios = torch.where(falling & (gap <= 0), torch.zeros_like(ratios), ratios)
            blocking = int(torch.argmin(ratios))
            current = (current + float(ratios[blocking]) * (trial - current)).clamp_min(0)
            keep = [pos for pos in range(len(passive)) if pos != blocking and float(current[pos]) > 0]
            passive = [passive[pos] for pos in keep]
            z = torch.zeros_like(z)
            if passive:
                z[torch.tensor(passive, device=gram.device)] = current[keep]
    return Solution(z, iterations, residual, converged)


def dual_cone_weights(gram: Tensor, preference: Tensor) -> Solution:
    """Weights of the projection of J^T u onto the dual cone {x : J x >= 0} of the rows.

    The projection's dual is min_{v >= u} v^T G v: v = u + z with z >= 0 minimising
    1/2 z^T G z + (G u) . z (:func:`nonneg_quadratic`); the projection is J^T v. DualProj projects
    the mean gradient (u = 1/K), UPGrad every row (u = e_i).
    """
    solution = nonneg_quadratic(gram, gram @ preference)
    return Solution(preference + solution.x, solution.iterations, solution.residual, solution.converged)


def nash_bargaining(gram: Tensor, *, max_iter: int = 20, tol: float = 1e-10) -> Solution:
    """Nash-MTL's alpha > 0 with alpha_i (G alpha)_i = 1 for every i.

    It is the unique minimiser of the strictly convex, self-concordant
    f(alpha) = 1/2 alpha^T G alpha - sum_i log alpha_i (FairGrad's problem at alpha-fairness 1),
    found by damped Newton steps with a fraction-to-the-boundary rule and Armijo backtracking,
    then full steps once the Newton decrement is below 1/4 (:func:`_fair_newton`). The
    variables are scaled by the gradient norms (alpha = beta / |g_i|, so G becomes the cosine
    matrix and the start beta = 1 is exact for orthogonal tasks); Newton's method is affine
    invariant, so only the start depends on this. ``residual`` = max_i |alpha_i (G alpha)_i - 1|.
    No solution exists when a gradient is zero or a non-negative combination of the gradients
    vanishes (e.g. g_1 = -g_2): the iterates then diverge and ``converged`` is False.
    """
    k = gram.shape[0]
    diag = gram.diagonal()
    if not bool(torch.isfinite(gram).all()) or float(diag.min()) <= TINY:
        return Solution(torch.full((k,), math.nan, dtype=gram.dtype, device=gram.device), 0, math.inf, False)
    scale = diag.rsqrt()
    cos = gram * scale[:, None] * scale[None, :]
    beta = torch.ones(k, dtype=gram.dtype, device=gram.device)
    # Close to the solution (Newton decrement < 1/4) a full step stays feasible for a
    # self-concordant f and converges quadratically; a line search there would only see rounding noise.
    solution = _fair_newton(cos, beta, 1.0, max_iter=max_iter, tol=tol, full_steps_below=1 / 16, guard_full_steps=False)
    return Solution(solution.x * scale, solution.iterations, solution.residual, solution.converged)


def alpha_fair_weights(gram: Tensor, alpha: float, *, max_iter: int = 50, tol: float = 1e-10) -> Solution:
    """FairGrad's weights: w > 0 with (G w)_i = w_i^(-1/alpha) for every i.

    These are the optimality conditions of the strictly convex
    f(w) = 1/2 w^T G w - sum_i phi(w_i), phi(w) = log w (alpha = 1, Nash-MTL's problem) or
    w^(1 - 1/alpha) / (1 - 1/alpha), so f is minimised by damped Newton steps
    (:func:`_fair_newton`; phi is not self-concordant for every alpha, so a full step close to
    the solution is taken only when it stays inside w > 0), in float64 on G's device. G is first
    divided by its largest diagonal entry c, which scales the solution by c^(-alpha/(1+alpha));
    the start n_i^(-2 alpha/(1+alpha)) (n_i = |g_i|) is exact for orthogonal tasks.
    ``residual`` = max_i |w_i^(1/alpha) (G w)_i - 1|. No solution exists when a gradient is zero
    or a non-negative combination of them vanishes: then ``converged`` is False.
    """
    k = gram.shape[0]
    diag = gram.diagonal()
    if not bool(torch.isfinite(gram).all()) or float(diag.min()) <= TINY:
        return Solution(torch.full((k,), math.nan, dtype=gram.dtype, device=gram.device), 0, math.inf, False)
    size = float(diag.max())
    g = gram / size
    start = g.diagonal().pow(-alpha / (1 + alpha))
    solution = _fair_newton(g, start, alpha, max_iter=max_iter, tol=tol, full_steps_below=1e-8, guard_full_steps=True)
    return Solution(
        solution.x * size ** (-alpha / (1 + alpha)), solution.iterations, solution.residual, solution.converged
    )


def _fair_newton(
    m: Tensor, x: Tensor, alpha: float, *, max_iter: int, tol: float, full_steps_below: float, guard_full_steps: bool
) -> Solution:
    """Damped Newton on f(x) = 1/2 x^T m x - sum_i phi(x_i) over x > 0, phi the alpha-fair utility.

    phi(x) = log x for alpha = 1, x^(1 - 1/alpha) / (1 - 1/alpha) otherwise; at the minimiser
    (m x)_i = phi'(x_i) = x_i^(-1/alpha), and ``residual`` = max_i |x_i^(1/alpha) (m x)_i - 1|.
    While the Newton decrement is at least ``full_steps_below`` the step stays inside x > 0
    (fraction to the boundary, 0.99) and backtracks (Armijo, 1/4); below it a full step is
    taken, checked to stay inside x > 0 when ``guard_full_steps``.
    """
    inv = 1.0 / alpha

    def objective(x: Tensor) -> float:
        utility = torch.log(x).sum() if alpha == 1 else x.pow(1 - inv).sum() / (1 - inv)
        return float(0.5 * x @ m @ x - utility)

    residual = math.inf
    converged = False
    iterations = 0
    while True:
        mx = m @ x
        if alpha == 1:  # written out: Nash-MTL's arithmetic, operation for operation
            residual = float((x * mx - 1).abs().max())
            slope, curvature = 1 / x, 1 / x**2
        else:
            residual = float((x.pow(inv) * mx - 1).abs().max())
            slope, curvature = x.pow(-inv), inv * x.pow(-inv - 1)
        if residual <= tol:
            converged = True
            break
        if iterations >= max_iter or not math.isfinite(residual):
            break
        iterations += 1
        grad = mx - slope
        delta = solve_small(m + torch.diag(curvature), -grad)
        decrement = float(-(grad @ delta))
        if not math.isfinite(decrement) or decrement <= 0:
            break
        step = 1.0
        if decrement >= full_steps_below or (guard_full_steps and bool((x + delta <= 0).any())):
            falling = delta < 0
            if bool(falling.any()):
                step = min(1.0, 0.99 * float((-x[falling] / delta[falling]).min()))
            start = objective(x)
            while step > 1e-12 and objective(x + step * delta) > start - 0.25 * step * decrement:
                step *= 0.5
        x = x + step * delta
    return Solution(x, iterations, residual, converged)
