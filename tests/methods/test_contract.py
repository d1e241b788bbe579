"""The method contract: declared hooks only, resumable state, seeds, one Gram matrix per step, one-line errors."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from mtlbench.errors import MtlbenchError
from mtlbench.methods import METHODS, Method, _linalg, base, combine, create, method_seed
from mtlbench.train import engine
from mtlbench.train.engine import MTLEngine


def _matrix(k: int, seed: int, p: int = 7) -> torch.Tensor:
    g = torch.randn(k, p, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    g[1] = -0.6 * g[0] + 0.5 * g[1]
    return g


def _ready(name: str, k: int, seed: int = 0) -> Method:
    """A method set up as the trainer sets it up, for K tasks named t0..t{K-1}."""
    params = {"stages": ["t0", ",".join(f"t{i}" for i in range(1, k))]} if name == "staged" else {}
    params = {"task": "t0"} if name == "stl" else params
    method = create(name, **params)
    method.setup(k)
    method.set_task_names([f"t{i}" for i in range(k)])
    method.set_seed(method_seed(seed, name))
    method.start_epoch(0, 4)
    return method


def _steps(method: Method, k: int, first: int, n: int) -> list[torch.Tensor]:
    """n training-like steps (the hooks in the engine's order); each step's update direction."""
    out = []
    for step in range(first, first + n):
        g = _matrix(k, step)
        losses = torch.linspace(0.5, 2.0, k, dtype=torch.float64) * (1 + 0.1 * step)
        if method.uses_task_gradients:
            method.reuse_weights(losses)
        else:
            method.weighted_loss(losses)
        out.append(method.aggregate(g, losses).direction)
        method.observe(losses * 0.9)
        method.end_epoch(losses)
    return out


@pytest.mark.parametrize("name", METHODS.names())
def test_state_dict_saves_everything_that_the_next_steps_depend_on(name: str) -> None:
    """Steps after load_state_dict into a fresh object equal the steps of the object that went on."""
    k = 3
    method = _ready(name, k)
    _steps(method, k, 0, 3)
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)  # torch-saveable, and loadable without pickled code
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    went_on = _steps(method, k, 3, 3)
    fresh = _ready(name, k)
    fresh.load_state_dict(state)
    resumed = _steps(fresh, k, 3, 3)
    for a, b in zip(went_on, resumed, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_load_state_dict_keeps_a_learnable_tensor_that_an_optimiser_holds() -> None:
    method = _ready("uw", 2)
    optimizer = torch.optim.SGD(method.extra_parameters(), lr=0.1)
    state = method.state_dict()
    state["log_vars"] = torch.tensor([1.0, 2.0])
    method.load_state_dict(state)
    assert method.extra_parameters()[0] is optimizer.param_groups[0]["params"][0]
    assert method.extra_parameters()[0].tolist() == [1.0, 2.0]


def test_a_state_that_does_not_match_the_declared_attributes_is_refused_in_one_line() -> None:
    with pytest.raises(MtlbenchError, match=r"saved state has \['nothing'\] but the method declares \['current', "):
        create("rlw").load_state_dict({"nothing": 1})


def test_replicate_seeds_give_independent_streams_and_a_fixed_seed_overrides_them() -> None:
    assert method_seed(0, "rlw") != method_seed(1, "rlw") != method_seed(0, "pcgrad")
    assert method_seed(3, "rlw") == method_seed(3, "rlw") and 0 <= method_seed(3, "rlw") < 2**63
    draws = {}
    for seed in (0, 1):
        method = _ready("rlw", 3, seed)
        draws[seed] = [method.weighted_loss(torch.ones(3)) and method.loss_weights(torch.ones(3)) for _ in range(3)]
    assert not torch.equal(torch.stack(draws[0]), torch.stack(draws[1]))
    fixed = [create("rlw", seed=5) for _ in range(2)]
    for method, seed in zip(fixed, (0, 1)):
        method.set_seed(method_seed(seed, "rlw"))
        method.weighted_loss(torch.ones(3))
    torch.testing.assert_close(fixed[0].loss_weights(torch.ones(3)), fixed[1].loss_weights(torch.ones(3)))


@pytest.mark.parametrize("name", ["pcgrad", "gradvac"])
def test_surgery_with_three_tasks_differs_between_replicate_seeds(name: str) -> None:
    """Their task order is random for K >= 3; with many conflicting rows the order changes the sum."""
    runs = []
    for seed in (0, 1):
        method = _ready(name, 5, seed)
        runs.append(torch.stack(_steps(method, 5, 0, 6)))
    assert not torch.equal(runs[0], runs[1])
    again = torch.stack(_steps(_ready(name, 5, 0), 5, 0, 6))
    assert torch.equal(again, runs[0])


def test_every_method_runs_on_a_plain_matrix_with_its_defaults_or_says_in_one_line_what_it_needs() -> None:
    g = _matrix(3, 0)
    needs = {}
    for name in METHODS.names():
        try:
            d = combine(name, g)
        except MtlbenchError as err:
            needs[name] = str(err)
            assert "\n" not in str(err)
            continue
        assert d.shape == (7,) and bool(torch.isfinite(d).all()), name
    weigh_by_losses = {"famo", "db-mtl", "gradnorm", "imtl", "stch", "gls"}
    assert set(needs) == {"staged", "stl", *weigh_by_losses}
    for name in weigh_by_losses:
        assert "pass losses=" in needs[name] and METHODS.get(name).needs_losses, name
    assert "task_names" in needs["staged"] and "task_names" in needs["stl"]
    assert bool(torch.isfinite(combine("famo", g, torch.ones(3, dtype=torch.float64))).all())


def test_mgda_without_losses_counts_them_as_equal_and_says_so() -> None:
    """loss+ with equal losses is l2 (the simplex solution ignores a common factor); the default stays loss+."""
    g = _matrix(3, 1)
    assert METHODS.get("mgda").hparam_defaults()["normalization"] == "loss+"
    agg = create("mgda").aggregate(g)
    assert agg.info["losses_missing"] == 1.0
    torch.testing.assert_close(agg.direction, combine("mgda", g, normalization="l2"))
    equal = torch.full((3,), 0.7, dtype=torch.float64)
    torch.testing.assert_close(agg.direction, combine("mgda", g, equal), rtol=1e-12, atol=1e-15)
    assert "losses_missing" not in create("mgda").aggregate(g, equal).info


def test_repr_shows_the_hyper_parameters() -> None:
    assert repr(create("cagrad", c=0.5)) == "CAGrad(c=0.5, rescale=1, reduction='sum', max_iter=200)"
    assert repr(create("rlar", base="pcgrad")) == "RLAR(base='pcgrad', beta=0.1, tau=0.0, reduction='sum', seed=None)"


def test_every_method_declares_its_reference_and_rules_for_its_own_hyper_parameters() -> None:
    for name in METHODS.names():
        cls = METHODS.get(name)
        assert cls.paper and cls.code, name
        names = set(cls.hparam_names())
        assert set(cls.hparam_rules) <= names and set(cls.search_space) <= names, name
        for key, value in cls.hparam_defaults().items():
            if key in cls.hparam_rules:
                cls.hparam_rules[key].check(name, key, value)  # the official default is allowed


def test_a_wrong_hyper_parameter_name_lists_the_valid_keys() -> None:
    with pytest.raises(MtlbenchError, match=r"^came-grad has no hyper-parameter 'roh'; valid keys: rho, kappa, nu,"):
        METHODS.get("came-grad").check_hparam_names({"roh": 0.3})
    with pytest.raises(MtlbenchError, match=r"rlar \(base pcgrad\) has no hyper-parameter 'c'; valid keys: base,"):
        METHODS.get("rlar").check_hparam_names({"base": "pcgrad", "c": 0.3})
    METHODS.get("rlar").check_hparam_names({"base": "cagrad", "c": 0.3, "beta": 0.2})


class _Model(nn.Module):
    def __init__(self, k: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Linear(4, 3)
        self.heads = nn.ModuleList(nn.Linear(3, 1) for _ in range(k))

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = torch.tanh(self.trunk(x))
        return {f"t{i}": (head(z) - i).pow(2).mean() for i, head in enumerate(self.heads)}

    def engine(self, method: Method) -> MTLEngine:
        heads = {f"t{i}": list(head.parameters()) for i, head in enumerate(self.heads)}
        return MTLEngine(list(self.trunk.parameters()), heads, method)


def test_the_gram_matrix_is_built_once_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = _linalg.gram

    def counting(grads: torch.Tensor) -> torch.Tensor:
        calls.append(grads.shape)
        return original(grads)

    for module in (_linalg, base, engine):
        monkeypatch.setattr(module, "gram", counting)
    model = _Model(3)
    record = model.engine(create("cagrad")).backward(model.losses(torch.randn(5, 4)))
    assert len(calls) == 1 and record.cosines and record.grad_norms
