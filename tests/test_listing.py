"""`mtlbench list` shows every registry, and every registry's entry-point group is declared for plugins."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtlbench.cli import cli
from mtlbench.cli.listing import _registries

SETUP_CFG = Path(__file__).resolve().parents[1] / "setup.cfg"


def test_every_registry_entry_point_group_is_declared_in_setup_cfg() -> None:
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    declared = {line.split("=")[0].strip() for line in config["options.entry_points"] if line}
    assert {registry.group for registry in _registries().values()} <= declared


@pytest.mark.parametrize("kind", sorted(_registries()))
def test_list_shows_every_registry(kind: str) -> None:
    result = CliRunner().invoke(cli, ["list", kind])
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in _registries()[kind].names())


def test_list_labelers_shows_the_built_in_labelers() -> None:
    result = CliRunner().invoke(cli, ["list", "labelers"])
    assert "rules" in result.output and "chexbert" in result.output


def test_describe_shows_reference_defaults_ranges_and_tuning() -> None:
    result = CliRunner().invoke(cli, ["describe", "cagrad"])
    assert result.exit_code == 0, result.output
    assert "github.com/Cranial-XIX/CAGrad" in result.output and "NeurIPS 2021" in result.output
    row = next(line for line in result.output.splitlines() if line.strip().startswith("c "))
    assert row.split()[:3] == ["c", "0.4", "[0,"] and "uniform [0.1, 0.9]" in row
    assert "--param cagrad.KEY=VALUE" in result.output
    unknown = CliRunner().invoke(cli, ["describe", "pcgrd"])
    assert unknown.exit_code == 1 and "Did you mean 'pcgrad'?" in unknown.output
