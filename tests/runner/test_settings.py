"""Settings merged in one place: grid file + command line -> GridSpec, --param, executors' own options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mtlbench.cli import cli
from mtlbench.cli import run as run_module
from mtlbench.errors import MtlbenchError
from mtlbench.runner.executors.factory import EXECUTORS, executor_options
from mtlbench.runner.grid import expand
from mtlbench.runner.gridfile import GRID_OPTIONS, grid_from


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The specs `mtlbench run` would run (nothing is trained, no data is generated)."""
    seen: list[Any] = []
    monkeypatch.setattr(run_module, "check_datasets", lambda specs, root: None)
    monkeypatch.setattr(run_module, "run_benchmark", lambda specs, *args, **kwargs: seen.append(specs))
    return seen


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["run", *args, "--no-leaderboard"])


def test_param_on_the_command_line_and_params_in_a_grid_file_give_the_same_run_ids(
    captured: list[Any], tmp_path: Path
) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text('methods = ["came-grad"]\nseeds = 2\n[params.came-grad]\nrho = 0.3\n')
    assert _run("--methods", "came-grad", "--seeds", "2", "--param", "came-grad.rho=0.3").exit_code == 0
    assert _run(str(grid)).exit_code == 0
    assert _run("--methods", "came", "--seeds", "2", "--param", "came.rho=0.3").exit_code == 0  # aliases
    from_cli, from_file, from_alias = ([s.run_id for s in specs] for specs in captured)
    assert from_cli == from_file == from_alias and len(set(from_cli)) == 2
    assert dict(captured[0][0].method_params) == {"rho": 0.3}
    default = expand(grid_from(None, {"methods": "came-grad", "seeds": "2"}))
    assert not {s.run_id for s in default} & set(from_cli)


def test_a_wrong_hyper_parameter_gets_one_line_naming_the_valid_keys(captured: list[Any]) -> None:
    result = _run("--methods", "came-grad", "--param", "came-grad.roh=0.3")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "came-grad has no hyper-parameter 'roh'; valid keys: rho, kappa, nu, task_weights," in result.output
    bad_value = _run("--methods", "cagrad", "--param", "cagrad.c=-1")
    assert "cagrad: c must be a number in [0, inf]; got -1" in bad_value.output and not captured


def test_all_and_bare_keys_and_which_setting_wins() -> None:
    def params(options: dict[str, Any], path: Path | None = None) -> dict[str, list[dict]]:
        specs = expand(grid_from(path, {"seeds": "1", **options}))
        return {s.method: dict(s.method_params) for s in specs}

    both = params({"methods": "cagrad,pcgrad,ls", "param": ("all.reduction=mean",)})
    assert both == {"cagrad": {"reduction": "mean"}, "pcgrad": {"reduction": "mean"}, "ls": {"reduction": "mean"}}
    assert params({"methods": "cagrad", "param": ("c=0.7", "rescale=0")}) == {"cagrad": {"c": 0.7, "rescale": 0}}
    with pytest.raises(MtlbenchError, match="several methods"):
        params({"methods": "cagrad,ls", "param": ("c=0.7",)})
    with pytest.raises(MtlbenchError, match="not in the grid's methods"):
        params({"methods": "ls", "param": ("cagrad.c=0.7",)})
    with pytest.raises(MtlbenchError, match=r"expected METHOD\.KEY=VALUE"):
        params({"methods": "ls", "param": ("weights",)})


def test_the_command_line_overrides_the_grid_file_even_its_sweep(tmp_path: Path) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text(
        'methods = ["cagrad"]\nseeds = 1\n[train]\nepochs = 3\n'
        "[params.cagrad]\nrescale = 0\n[sweep.cagrad]\nc = [0.1, 0.2]\n"
    )
    swept = expand(grid_from(grid, {}))
    assert sorted(dict(s.method_params)["c"] for s in swept) == [0.1, 0.2]
    (single,) = expand(grid_from(grid, {"param": ("cagrad.c=0.5",), "epochs": 4}))
    assert dict(single.method_params) == {"c": 0.5, "rescale": 0} and single.train.epochs == 4


def test_every_grid_option_and_every_executor_option_is_an_option_of_run() -> None:
    params = {p.name for p in run_module.run_command.params}
    assert {option.name for option in GRID_OPTIONS} <= params
    assert {option.name for option in executor_options()} <= params
    declared = {option.name for cls in EXECUTORS.values() for option in cls.options}
    assert declared == {option.name for option in executor_options()}


def test_params_and_sweep_of_one_method_combine_whatever_name_each_table_uses(tmp_path: Path) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text(
        'methods = ["came-grad"]\nseeds = 1\n[params.came]\nrho = 0.3\n[sweep.came-grad]\nkappa = [1.0, 2.0]\n'
    )
    rows = sorted(tuple(sorted(dict(s.method_params).items())) for s in expand(grid_from(grid, {})))
    assert rows == [(("kappa", 1.0), ("rho", 0.3)), (("kappa", 2.0), ("rho", 0.3))]
