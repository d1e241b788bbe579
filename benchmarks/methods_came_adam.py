"""CAME-Grad's energy injection under Adam: a constant gain is (almost) a no-op, a varying one is not.

Adam divides each coordinate's step by the running RMS of its gradient, so multiplying every
gradient by a constant c leaves the steps unchanged up to Adam's eps; only a gain that changes
from step to step reaches the parameters. CAME-Grad's S2 multiplies the direction by
kappa |g_LS| / |d|, a constant kappa times a varying ratio, so under AdamW its effect is the
variation of |g_LS| / |d| alone. This script trains the same model from the same start with:

* ``ls``            the weighted linear gradient g_LS (task weights [1, 4]);
* ``ls x1.5``       1.5 g_LS, which is CAME-Grad with S1 and S3 off (S2 alone, N_ref = |g_LS|);
* ``S1``            CAME-Grad's rectified direction d (S2, S3 off);
* ``S1 x1.5``       1.5 d: a constant gain on S1;
* ``S1+S2``         kappa |g_LS| / |d| * d: S1 with the energy injection, a VARYING gain;
* ``ls x2``, ``ls x(1+1e-6)``  controls: an exact constant gain, and a rounding-sized one;

and reports how far apart the shared parameters end, relative to how far they moved, under
AdamW and, for contrast, plain SGD. Two models: a small two-task MLP (300 full-batch steps)
and the default backbone on the synthetic data (20 steps of the real training step, with and
without the default global gradient clipping at 5, and with Adam's eps at its default 1e-8 and
at 1e-30, which isolates the part of the effect that comes from eps). ``ls x(1+1e-6)`` gives the
floor: how much a rounding-sized change grows over the steps of a non-convex model.

    .venv/bin/python benchmarks/methods_came_adam.py --out benchmarks/methods_came_adam.md
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor, nn

from mtlbench.methods import create
from mtlbench.methods.base import Aggregation, Method
from mtlbench.train.config import TrainConfig
from mtlbench.train.engine import MTLEngine


class Scaled(Method):
    """Another method's update times a constant: the control for a constant gain."""

    def __init__(self, inner: Method, factor: float) -> None:
        self.inner, self.factor = inner, factor

    def aggregate(self, grads: Tensor, losses: Tensor | None = None) -> Aggregation:
        agg = self.inner.aggregate(grads, losses)
        weights = agg.weights * self.factor if agg.weights is not None else None
        return Aggregation(direction=agg.direction * self.factor, weights=weights, info=agg.info)


def rules() -> dict[str, Callable[[], Method]]:
    """Fresh method objects for each variant (all through the same engine)."""
    off = {"rectify": False, "inject": False, "fuse": False}
    return {
        "ls": lambda: create("came-grad", **off),
        "ls x1.5": lambda: create("came-grad", **(off | {"inject": True})),
        "S1": lambda: create("came-grad", **(off | {"rectify": True})),
        "S1 x1.5": lambda: Scaled(create("came-grad", **(off | {"rectify": True})), 1.5),
        "S1+S2": lambda: create("came-grad", **(off | {"rectify": True, "inject": True})),
        "ls x2": lambda: Scaled(create("came-grad", **off), 2.0),
        "ls x(1+1e-6)": lambda: Scaled(create("came-grad", **off), 1 + 1e-6),
    }


PAIRS = (("ls", "ls x1.5"), ("ls", "ls x2"), ("S1", "S1 x1.5"), ("S1", "S1+S2"), ("ls", "ls x(1+1e-6)"))
"""``x2`` is exact in floating point, so with eps -> 0 Adam's steps are identical; the last pair is
the floor: how much a rounding-sized change grows over the steps of a non-convex model."""


class ToyTwoTask(nn.Module):
    """A shared tanh MLP and two regression heads with partly opposed targets."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 16), nn.Tanh())
        self.heads = nn.ModuleDict({"report": nn.Linear(16, 1), "cls": nn.Linear(16, 1)})
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(256, 8, generator=g)
        direction = torch.randn(8, generator=g)
        self.targets = {"report": torch.sin(self.x @ direction), "cls": -torch.sin(self.x @ direction) + self.x[:, 0]}

    def losses(self) -> dict[str, Tensor]:
        z = self.trunk(self.x)
        return {t: (self.heads[t](z).squeeze(1) - self.targets[t]).pow(2).mean() for t in ("report", "cls")}


def train_toy(make: Callable[[], Method], optimizer: str, steps: int) -> tuple[Tensor, list[float], dict[str, float]]:
    torch.manual_seed(0)
    model = ToyTwoTask()
    method = make()
    engine = MTLEngine(
        list(model.trunk.parameters()), {t: list(h.parameters()) for t, h in model.heads.items()}, method
    )
    opt = (
        torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
        if optimizer == "adamw"
        else torch.optim.SGD(model.parameters(), lr=5e-2)
    )
    gains = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        record = engine.backward(model.losses())
        gains.append(float(record.info.get("gain", 1.0)))
        opt.step()
    final = {t: float(v.detach()) for t, v in model.losses().items()}
    return torch.cat([p.detach().reshape(-1) for p in model.trunk.parameters()]), gains, final


def start_of_toy() -> Tensor:
    torch.manual_seed(0)
    return torch.cat([p.detach().reshape(-1) for p in ToyTwoTask().trunk.parameters()])


def distance(a: Tensor, b: Tensor, start: Tensor) -> float:
    """|a - b| relative to how far a moved from the start."""
    return float((a - b).norm() / (a - start).norm())


def toy_table(steps: int) -> list[str]:
    lines = [
        f"Toy two-task MLP, {steps} full-batch steps (AdamW lr 1e-2, SGD lr 5e-2):",
        "",
        "| pair | optimiser | relative distance of the shared parameters |",
        "|---|---|---|",
    ]
    start = start_of_toy()
    notes = []
    for optimizer in ("adamw", "sgd"):
        results = {name: train_toy(make, optimizer, steps) for name, make in rules().items()}
        for a, b in PAIRS:
            lines.append(f"| {a} vs {b} | {optimizer} | {distance(results[a][0], results[b][0], start):.2e} |")
        gains = results["S1+S2"][1]
        notes.append(
            f"{optimizer}: S2 gain over the steps mean {statistics.mean(gains):.3f}, sd {statistics.stdev(gains):.3f}, "
            f"min {min(gains):.3f}, max {max(gains):.3f}; final losses (report, cls): "
            + ", ".join(f"{name} ({r[2]['report']:.4f}, {r[2]['cls']:.4f})" for name, r in results.items())
        )
    return lines + [""] + [f"- {n}" for n in notes]


def backbone_table(steps: int) -> list[str]:
    from mtlbench.runner.run_one import prepare
    from mtlbench.runner.spec import RunSpec
    from mtlbench.train.step import Trainer

    os.environ.setdefault("MTLBENCH_CACHE", tempfile.mkdtemp())
    base = TrainConfig(epochs=1, probe_every=0)
    spec = RunSpec(method="ls", dataset="synthetic", seed=0, data_options=(("n_train", 16 * steps),), train=base)
    torch.manual_seed(0)
    prep = prepare(spec, None)
    batches = list(prep.train_batches(0)(0))[:steps]
    start = torch.cat([p.detach().reshape(-1) for p in prep.model.shared_parameters()])
    lines = [
        f"Default backbone (tiny) on the synthetic data, {len(batches)} training steps of the real pipeline "
        "(Trainer.step: AdamW lr 1e-3, weight decay 5e-5), the same dropout masks for every variant:",
        "",
        "| pair | global grad_clip | AdamW eps | relative distance of the shared parameters |",
        "|---|---|---|---|",
    ]
    tiny_rms = math.nan
    for clip, eps in ((0.0, 1e-8), (0.0, 1e-30), (base.grad_clip, 1e-8)):
        config = replace(base, grad_clip=clip)
        ends = {}
        for name, make in rules().items():
            model = copy.deepcopy(prep.model)
            torch.manual_seed(0)  # the same dropout masks for every variant
            trainer = Trainer(model, make(), config, torch.device("cpu"))
            for group in trainer.optimizer.param_groups:
                group["eps"] = eps
            trainer.start_epoch(0)
            for batch in batches:
                trainer.step(batch)
            ends[name] = torch.cat([p.detach().reshape(-1) for p in model.shared_parameters()])
            if name == "ls" and clip == 0.0 and eps == 1e-8:
                tiny_rms = _share_below(trainer, list(model.shared_parameters()), 1e-7)
        for a, b in PAIRS:
            lines.append(f"| {a} vs {b} | {clip:g} | {eps:g} | {distance(ends[a], ends[b], start):.2e} |")
    lines += [
        "",
        f"- After the ls run, {100 * tiny_rms:.1f}% of the shared coordinates have a gradient RMS (Adam's "
        "sqrt(v_hat)) below 1e-7, where eps = 1e-8 is not negligible: there a gain changes the step.",
    ]
    return lines


def _share_below(trainer: object, params: list[nn.Parameter], level: float) -> float:
    """Share of the coordinates of ``params`` whose bias-corrected Adam RMS is below ``level``."""
    optimizer = trainer.optimizer  # type: ignore[attr-defined]
    beta2 = optimizer.param_groups[0]["betas"][1]
    below = total = 0
    for p in params:
        state = optimizer.state[p]
        rms = (state["exp_avg_sq"] / (1 - beta2 ** float(state["step"]))).sqrt()
        below += int((rms < level).sum())
        total += rms.numel()
    return below / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy-steps", type=int, default=300)
    parser.add_argument("--backbone-steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lines = [*toy_table(args.toy_steps), "", *backbone_table(args.backbone_steps)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        command = (
            f".venv/bin/python benchmarks/methods_came_adam.py --toy-steps {args.toy_steps} "
            f"--backbone-steps {args.backbone_steps} --out {args.out}"
        )
        args.out.write_text(f"# CAME-Grad's gain under Adam\n\nCommand: `{command}`\n\n{text}")


if __name__ == "__main__":
    main()
