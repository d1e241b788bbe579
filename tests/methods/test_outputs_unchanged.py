"""Every method gives the numbers it gave before the method contract was refactored (commit 0ca4aa5).

``data/outputs_0ca4aa5.json`` holds, for every method and several hyper-parameter settings, the
updates of three consecutive steps (stateful methods carry their state from step to step) and
of one step after ``reset()``, on fixed matrices, as computed by the code of commit 0ca4aa5:

    git archive 0ca4aa5 | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python tests/methods/test_outputs_unchanged.py tests/methods/data/outputs_0ca4aa5.json

The values are kept to 13 significant digits; the refactor was checked bit for bit on the
machine that wrote the file, and the test allows a relative 1e-10 so that another CPU's
floating-point kernels do not fail it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from mtlbench.methods import create

RECORDED = Path(__file__).parent / "data" / "outputs_0ca4aa5.json"

SETTINGS: dict[str, list[dict]] = {
    "cagrad": [{}, {"rescale": 0}, {"rescale": 2, "reduction": "mean", "c": 0.7}],
    "came-grad": [
        {},
        {"rectify": False},
        {"inject": False},
        {"fuse": False},
        {"n_ref": "mean"},
        {"task_weights": None},
    ],
    "imtl-g": [{}],
    "upgrad": [{}, {"reduction": "sum"}],
    "aligned-mtl": [{}, {"reduction": "mean", "scale_mode": "median"}],
    "config": [{}],
    "ls": [{}, {"reduction": "mean"}],
    "mgda": [{}, {"normalization": "none"}, {"normalization": "l2", "reduction": "sum"}, {"normalization": "loss"}],
    "mgda-ub": [{}],
    "nashmtl": [{}, {"max_norm": 0.0}, {"update_weights_every": 2}],
    "pcgrad": [{}, {"reduction": "mean"}],
    "gradvac": [{}, {"beta": 0.1, "reduction": "mean"}],
    "rlar": [{"base": "pcgrad"}, {"base": "famo"}],
    "staged": [{}],
    "uw": [{}],
    "dwa": [{}],
    "rlw": [{}, {"seed": 2}],
    "famo": [{}, {"max_norm": 0.0}],
}


def _matrices() -> dict[str, torch.Tensor]:
    out = {}
    for k in (2, 3, 5):
        g = torch.randn(k, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(k))
        g[1] = -0.7 * g[0] + 0.4 * g[1]  # a conflicting pair
        out[f"k{k}"] = g
    out["k3-tiny"] = out["k3"] * 1e-10
    out["k3-float32"] = out["k3"].float()
    return out


def _outputs(name: str, params: dict, g: torch.Tensor) -> list[list[float]]:
    """The updates of three steps and of one step after reset(), as plain floats."""
    k = g.shape[0]
    if name == "staged":
        tasks = [f"t{i}" for i in range(k)]
        params = {**params, "task_names": tasks, "stages": [tasks[0], ",".join(tasks[1:])]}
    method = create(name, **params)
    method.setup(k)
    steps = []
    for step in range(3):
        losses = torch.linspace(0.5, 2.0, k, dtype=g.dtype) * (1 + 0.1 * step)
        grads = g * (1 + 0.3 * step)
        if not method.uses_task_gradients:
            method.weighted_loss(losses)
        else:
            method.reuse_weights(losses)
        steps.append(method.aggregate(grads, losses).direction)
        if not method.uses_task_gradients:
            method.observe(losses * 0.9)
        method.end_epoch(losses)
    method.reset()
    steps.append(method.aggregate(g, torch.linspace(0.5, 2.0, k, dtype=g.dtype)).direction)
    return [[float(v) for v in step.double().tolist()] for step in steps]


def _all_outputs() -> dict[str, list[list[float]]]:
    return {
        f"{name} {json.dumps(params, sort_keys=True)} {label}": _outputs(name, params, g)
        for name, settings in SETTINGS.items()
        for params in settings
        for label, g in _matrices().items()
    }


def test_every_method_gives_the_numbers_it_gave_before_the_refactor() -> None:
    recorded = json.loads(RECORDED.read_text())
    now = _all_outputs()
    assert set(now) == set(recorded)
    for key, expected in recorded.items():
        for got_step, expected_step in zip(now[key], expected, strict=True):
            for got, want in zip(got_step, expected_step, strict=True):
                assert got == pytest.approx(want, rel=1e-10, abs=1e-300) or (math.isnan(got) and math.isnan(want)), key


if __name__ == "__main__":
    rounded = {key: [[float(f"{v:.13g}") for v in step] for step in steps] for key, steps in _all_outputs().items()}
    Path(sys.argv[1]).write_text(json.dumps(rounded, indent=0, sort_keys=True) + "\n")
