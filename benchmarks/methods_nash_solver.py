"""Nash-MTL's solver: mtlbench's damped Newton method against cvxpy, at equal residual.

The problem: alpha > 0 with alpha_i (G alpha)_i = 1 for every task, G = J J^T. Three solvers
are timed side by side on the same Gram matrices (random J with two conflicting rows):

* ``newton``: ``mtlbench.methods.solvers.nash_bargaining`` (float64, torch, CPU here).
* ``cvxpy-ccp``: the official Nash-MTL iteration re-implemented from its description
  (github.com/AvivNavon/nash-mtl, ``NashMTL.solve_optimization``): G normalised by its
  Frobenius norm, a sequence of convex problems (the concave part linearised at the previous
  alpha, constraints log(alpha_i) + log((G alpha)_i) >= 0) solved by ECOS with warm starts,
  starting from alpha = 1. The official code stops after 20 problems or at a loose test; here
  it runs until the residual reaches the target (at most 100 problems) so residuals are equal.
* ``cvxpy-direct``: the same alpha as the minimiser of 1/2 a^T G a - sum_i log a_i, one convex
  problem (exponential cone) for Clarabel with tight tolerances.

The residual is max_i |alpha_i (G alpha)_i - 1| (0 at the solution). For each target residual,
each solver's time is the median over the matrices of the time to reach it; a solver that
never reaches it on a matrix counts as failed there.

    .venv/bin/python benchmarks/methods_nash_solver.py --out benchmarks/methods_nash_solver.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import cvxpy as cp
import numpy as np
import torch

from mtlbench.methods.solvers import nash_bargaining

TARGETS = (1e-3, 1e-6, 1e-9)


def gram_matrices(k: int, count: int, p: int = 2000) -> list[np.ndarray]:
    """``count`` Gram matrices of random K x P Jacobians whose first two rows conflict."""
    out = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        j = rng.standard_normal((k, p)) * rng.uniform(0.01, 10.0, size=(k, 1))
        j[1] = -0.7 * j[0] * np.linalg.norm(j[1]) / np.linalg.norm(j[0]) + 0.7 * j[1]
        out.append(j @ j.T)
    return out


def residual(g: np.ndarray, alpha: np.ndarray) -> float:
    return float(np.abs(alpha * (g @ alpha) - 1).max())


def newton(g: np.ndarray, target: float) -> tuple[float, float]:
    gram = torch.from_numpy(g)
    start = time.perf_counter()
    solution = nash_bargaining(gram, max_iter=50, tol=target)
    seconds = time.perf_counter() - start
    return seconds, residual(g, solution.x.numpy())


class OfficialIteration:
    """The official concave-convex iteration, one cvxpy problem built once and re-solved."""

    def __init__(self, k: int) -> None:
        self.alpha = cp.Variable(k, nonneg=True)
        self.previous = cp.Parameter(k, value=np.ones(k))
        self.g = cp.Parameter((k, k), value=np.eye(k))
        self.scale = cp.Parameter(1, value=np.ones(1))
        g_prev = self.g @ self.previous
        slope = 1 / self.previous + (1 / g_prev) @ self.g
        g_alpha = self.g @ self.alpha
        constraints = [-cp.log(self.alpha[i] * self.scale) - cp.log(g_alpha[i]) <= 0 for i in range(k)]
        objective = cp.Minimize(cp.sum(g_alpha) + slope @ (self.alpha - self.previous) / self.scale)
        self.problem = cp.Problem(objective, constraints)

    def trace(self, g: np.ndarray, max_problems: int = 100) -> list[tuple[float, float]]:
        """(seconds since the start, residual) after each convex problem, from alpha = 1."""
        start = time.perf_counter()
        norm = np.linalg.norm(g)
        self.g.value = g / norm
        self.scale.value = np.array([norm])
        alpha = np.ones(g.shape[0])
        out = []
        for _ in range(max_problems):
            self.previous.value = alpha
            try:
                self.problem.solve(solver=cp.ECOS, warm_start=True, max_iters=100)
            except cp.SolverError:
                break
            if self.alpha.value is None:
                break
            alpha = np.maximum(self.alpha.value, 1e-300)
            out.append((time.perf_counter() - start, residual(g, alpha)))
        return out

    def solve(self, g: np.ndarray, target: float) -> tuple[float, float]:
        """Time to the first iterate within ``target`` (the whole run and its best residual if none)."""
        points = self.trace(g)
        reached = [(t, r) for t, r in points if r <= target]
        if reached:
            return reached[0]
        return (points[-1][0], min(r for _, r in points)) if points else (0.0, np.inf)


class DirectProblem:
    """min 1/2 a^T G a - sum log a, on G normalised to unit largest diagonal (then rescaled)."""

    def __init__(self, k: int) -> None:
        self.alpha = cp.Variable(k)
        self.root = cp.Parameter((k, k))  # R with R^T R = G_n, so a^T G_n a = |R a|^2
        objective = cp.Minimize(0.5 * cp.sum_squares(self.root @ self.alpha) - cp.sum(cp.log(self.alpha)))
        self.problem = cp.Problem(objective)

    def solve(self, g: np.ndarray, target: float) -> tuple[float, float]:
        start = time.perf_counter()
        size = g.diagonal().max()
        values, vectors = np.linalg.eigh(g / size)
        self.root.value = (vectors * np.sqrt(np.clip(values, 0, None))).T
        try:
            self.problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        except cp.SolverError:
            return time.perf_counter() - start, np.inf
        if self.alpha.value is None:
            return time.perf_counter() - start, np.inf
        alpha = self.alpha.value / np.sqrt(size)
        return time.perf_counter() - start, residual(g, alpha)


Result = dict[str, dict[float, tuple[float, int]]]
"""solver -> target -> (median seconds over the matrices that reached it, how many did)."""


def run(k: int, count: int, repeats: int) -> tuple[Result, dict[str, tuple[float, float]]]:
    """Times to each target residual, and each solver's final residual and time at its own limits.

    The official iteration is deterministic, so one trace per repeat gives its time to every
    target; Clarabel solves once to its own tolerance; Newton is run once per target (its ``tol``).
    """
    matrices = gram_matrices(k, count)
    official, direct = OfficialIteration(k), DirectProblem(k)
    for g in matrices[:2]:  # warm up: cvxpy compiles its problems on the first call
        official.trace(g, max_problems=2)
        direct.solve(g, 0.0)
        newton(g, 1e-3)
    reach: dict[str, dict[float, list[float]]] = {name: {t: [] for t in TARGETS} for name in SOLVERS}
    final: dict[str, list[tuple[float, float]]] = {name: [] for name in SOLVERS}
    for g in matrices:
        for target in TARGETS:
            seconds, res = min((newton(g, target) for _ in range(repeats)), key=lambda r: r[0])
            if res <= target:
                reach["newton"][target].append(seconds)
        final["newton"].append(newton(g, 0.0))
        traces = [official.trace(g) for _ in range(repeats)]
        for target in TARGETS:
            firsts = [next((t for t, r in trace if r <= target), None) for trace in traces]
            if firsts[0] is not None:
                reach["cvxpy-ccp"][target].append(min(t for t in firsts if t is not None))
        final["cvxpy-ccp"].append((traces[0][-1][0], traces[0][-1][1]) if traces[0] else (np.nan, np.inf))
        runs = [direct.solve(g, 0.0) for _ in range(repeats)]
        for target in TARGETS:
            if runs[0][1] <= target:
                reach["cvxpy-direct"][target].append(min(t for t, _ in runs))
        final["cvxpy-direct"].append(runs[0])
    result = {
        name: {t: (statistics.median(ts) if ts else float("nan"), len(ts)) for t, ts in targets.items()}
        for name, targets in reach.items()
    }
    limits = {
        name: (statistics.median(r for _, r in runs_), statistics.median(t for t, _ in runs_))
        for name, runs_ in final.items()
    }
    return result, limits


SOLVERS = ("newton", "cvxpy-ccp", "cvxpy-direct")


def _ratio(seconds: float, base: float) -> str:
    return f"{seconds / base:.0f}x" if seconds == seconds and base == base else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="2,3,5,10", help="comma-separated numbers of tasks K")
    parser.add_argument("--matrices", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings per matrix")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    lines = [
        "| K | target residual | newton (ms) | cvxpy-ccp (ms) | cvxpy-direct (ms) | ccp / newton | direct / newton |",
        "|---|---|---|---|---|---|---|",
    ]
    limit_lines = [
        "",
        "Run to their own limits (Newton 50 iterations at tol 0, the official iteration 100 problems, "
        "Clarabel at tolerances 1e-12): median final residual and median time:",
        "",
        "| K | newton residual | cvxpy-ccp residual | cvxpy-direct residual | newton (ms) | cvxpy-ccp (ms) "
        "| cvxpy-direct (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for k in (int(x) for x in args.tasks.split(",")):
        res, limits = run(k, args.matrices, args.repeats)
        for target in TARGETS:
            cells = []
            for name in SOLVERS:
                seconds, reached = res[name][target]
                mark = "" if reached == args.matrices else f" ({reached}/{args.matrices} reached)"
                cells.append(("-" if reached == 0 else f"{1000 * seconds:.3f}") + mark)
            base = res["newton"][target][0]
            ratios = [_ratio(res[name][target][0], base) for name in SOLVERS[1:]]
            lines.append(f"| {k} | {target:g} | " + " | ".join(cells + ratios) + " |")
        cells = [f"{limits[n][0]:.1e}" for n in SOLVERS] + [f"{1000 * limits[n][1]:.2f}" for n in SOLVERS]
        limit_lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines += limit_lines
    header = (
        f"Median time to reach the target residual max_i |alpha_i (G alpha)_i - 1| over {args.matrices} "
        f"random Gram matrices per K (best of {args.repeats} timings each), one thread, torch "
        f"{torch.__version__}, cvxpy {cp.__version__}, {platform.processor() or platform.machine()}, "
        f"load average {os.getloadavg()[0]:.1f} (shared machine). 'n/m reached': the solver reached the "
        "target on n of the m matrices; its time is the median over those.\n"
    )
    text = header + "\n" + "\n".join(lines) + "\n"
    print(text)
    if args.out:
        command = (
            f".venv/bin/python benchmarks/methods_nash_solver.py --tasks {args.tasks} --matrices {args.matrices} "
            f"--repeats {args.repeats} --out {args.out}"
        )
        args.out.write_text(f"# Nash-MTL solver: damped Newton against cvxpy\n\nCommand: `{command}`\n\n{text}")


if __name__ == "__main__":
    main()
