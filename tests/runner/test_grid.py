"""Grid expansion, run identity and TOML grid files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mtlbench.data import DATASETS
from mtlbench.data.synthetic.config import VERSION
from mtlbench.errors import DataError, MtlbenchError, UnknownNameError
from mtlbench.runner.grid import GridSpec, expand, parse_seeds
from mtlbench.runner.gridfile import grid_from_settings, load_grid_file
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig

BASELINES = Path(__file__).resolve().parents[2] / "baselines"


def test_expand_crosses_methods_datasets_and_seeds_with_canonical_names() -> None:
    specs = expand(GridSpec(methods=("linear", "pcgrad"), datasets=("synthetic",), seeds=(0, 1, 2)))
    assert [(s.method, s.seed) for s in specs] == [(m, k) for m in ("ls", "pcgrad") for k in (0, 1, 2)]
    assert len({s.run_id for s in specs}) == 6


def test_all_expands_from_the_registry() -> None:
    from mtlbench.methods import METHODS

    specs = expand(GridSpec(methods=("all",), seeds=(0,)))
    # untuned, ls-tuned would be ls again; stl is one run per task (report, cls)
    expected = [m for name in METHODS.names() if name != "ls-tuned" for m in ([name] * (2 if name == "stl" else 1))]
    assert [s.method for s in specs] == expected


def test_unknown_method_names_the_closest_match() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'pcgrad'"):
        expand(GridSpec(methods=("pcgard",)))


def test_run_id_is_a_stable_hash_of_semantic_settings() -> None:
    spec = RunSpec(method="ls", dataset="synthetic", seed=3)
    assert spec.run_id == RunSpec.from_dict(spec.to_dict()).run_id
    assert spec.run_id != RunSpec(method="ls", dataset="synthetic", seed=4).run_id
    assert spec.run_id != RunSpec(method="ls", dataset="synthetic", seed=3, train=TrainConfig(lr=0.5)).run_id
    assert len(spec.run_id) == 16
    # pinned: a change here silently orphans every stored result, so it must be deliberate
    assert (
        RunSpec(method="pcgrad", dataset="synthetic", seed=0, train=TrainConfig(epochs=1)).to_dict()["train"]["epochs"]
        == 1
    )


def test_parse_seeds() -> None:
    assert parse_seeds("3") == (0, 1, 2)
    assert parse_seeds("1,4,7") == (1, 4, 7)
    assert parse_seeds(2) == (0, 1)


def test_grid_settings_with_params_sweeps_and_data_options() -> None:
    grid = grid_from_settings(
        {
            "methods": ["ls", "pcgrad"],
            "seeds": 2,
            "train": {"epochs": 2},
            "params": {"ls": {"reduction": "mean"}},
            "sweep": {"ls": {"weights": [[1, 1], [1, 4]]}},
            "data": {"synthetic": {"n_train": 32}},
        }
    )
    specs = expand(grid)
    ls_rows = {s.label for s in specs if s.method == "ls"}
    assert ls_rows == {"ls(reduction=mean,weights=(1, 1))", "ls(reduction=mean,weights=(1, 4))"}
    assert len(specs) == (2 + 1) * 2
    assert all(dict(s.data_options) == {"n_train": 32, "generator_version": VERSION} for s in specs)
    assert all(s.train.epochs == 2 for s in specs)


def test_the_synthetic_generator_version_is_part_of_every_run_id() -> None:
    """A new generator makes new data: its runs get new ids, and the data of older runs is never faked."""
    spec = expand(grid_from_settings({"methods": ["ls"], "seeds": 1}))[0]
    assert dict(spec.data_options) == {"generator_version": VERSION}
    older = replace(spec, data_options=(("generator_version", "0"),))
    assert older.run_id != spec.run_id
    with pytest.raises(DataError, match="made with synthetic generator v0, this mtlbench generates v" + VERSION):
        DATASETS.get(older.dataset)(**dict(older.data_options))


def test_bad_grid_files_get_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("methods = [\n")
    with pytest.raises(MtlbenchError, match="not valid TOML"):
        load_grid_file(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text('metods = ["ls"]\n')
    with pytest.raises(MtlbenchError, match="unknown keys \\['metods'\\]"):
        load_grid_file(typo)
    with pytest.raises(MtlbenchError, match="unknown settings \\['epoch'\\]"):
        grid_from_settings({"train": {"epoch": 3}})
    with pytest.raises(MtlbenchError, match="does not exist"):
        load_grid_file(tmp_path / "missing.toml")


@pytest.mark.parametrize("path", sorted(BASELINES.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_grid_files_expand(path: Path) -> None:
    specs = expand(grid_from_settings(load_grid_file(path)))
    assert specs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'methods = ["ls"]\nseeds = 1979-05-27\n',
            r"grid.toml: seeds must be a count .* got datetime.date\(1979, 5, 27\)",
        ),
        ('seeds = "3 seeds"\n', r"seeds must be a count .*; got '3 seeds'"),
        ("seeds = 100000000\n", r"a count of seeds must be between 1 and 10000"),
        ("seeds = [1, -2]\n", r"each seed a whole number in \[0, 2\*\*32\)"),
        ('methods = ["ls", 3]\n', r"methods must be a list of names"),
        ("tune = -1\n", r"tune must be a whole number of trials"),
        ("train = 5\n", r"\[train\] must be a table of settings"),
        ("[params.cagrad]\nc = {low = 0.1}\n", r"\[params.cagrad\] c = .*: a setting must be a text, number, boolean"),
        ("[params.ls]\nweights = [[1, 2], [3]]\n", r"a setting must be a text, number, boolean or a flat list"),
        ("[sweep.cagrad]\nc = 0.4\n", r"\[sweep.cagrad\] c must be a non-empty list of values to sweep"),
        ("[backbone]\nbeam_size = 0\n", r"backbone option beam_size must be a positive integer; got 0"),
        ("[train]\nepochs = 3\n[train]\nlr = 0.1\n", r"not valid TOML: Cannot declare \('train',\) twice \(at line 3"),
    ],
)
def test_grid_files_with_values_of_the_wrong_shape_are_refused_in_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(text)
    with pytest.raises(MtlbenchError, match=message) as err:
        load_grid_file(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_a_sweep_or_grid_too_large_to_run_is_refused_before_it_is_built(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text("[sweep.cagrad]\n" + "".join(f"k{i} = [{', '.join(map(str, range(10)))}]\n" for i in range(6)))
    with pytest.raises(MtlbenchError, match=r"\[sweep.cagrad\] makes 1000000 combinations; at most 10000"):
        load_grid_file(path)
    with pytest.raises(MtlbenchError, match=r"the grid has \d+ runs, more than 100000: split it"):
        expand(grid_from_settings({"methods": "all", "seeds": 10_000}))
    with pytest.raises(MtlbenchError, match=r"synthetic: option n_train must be a int; got inf"):
        DATASETS.get("synthetic")(n_train=float("inf"))


def test_a_latin1_grid_file_is_refused_with_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_bytes('description = "réglages"\n'.encode("latin-1"))
    with pytest.raises(
        MtlbenchError, match=r"grid file .*grid.toml is not UTF-8 text \(byte 0xe9 at line 1, column 17\)"
    ):
        load_grid_file(path)
