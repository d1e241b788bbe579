"""Backbone run options: validated, carried by the grid and the RunSpec, applied when the model is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtlbench.backbones.base import check_backbone_options
from mtlbench.backbones.trivial import most_frequent_report
from mtlbench.errors import MtlbenchError
from mtlbench.runner.grid import expand
from mtlbench.runner.gridfile import grid_from_settings
from mtlbench.runner.run_one import prepare
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.spec import freeze_params as freeze

SMALL = (("n_test", 2), ("n_train", 8), ("n_val", 2))


def test_options_are_checked_with_one_line_errors() -> None:
    assert check_backbone_options({"beam_size": 1, "extractor": "cnn"}) == {"beam_size": 1, "extractor": "cnn"}
    with pytest.raises(MtlbenchError, match="unknown backbone option 'beam'"):
        check_backbone_options({"beam": 3})
    with pytest.raises(MtlbenchError, match="positive integer"):
        check_backbone_options({"beam_size": 0})
    with pytest.raises(MtlbenchError, match="must be a bool"):
        check_backbone_options({"block_trigrams": "yes"})


def test_grid_and_spec_carry_the_options_without_changing_plain_run_ids() -> None:
    plain = RunSpec(method="ls", dataset="synthetic", seed=0)
    assert "backbone_options" not in plain.to_dict()
    specs = expand(grid_from_settings({"methods": "ls", "seeds": 1, "backbone": {"beam_size": 1}}))
    assert specs[0].backbone_options == (("beam_size", 1),)
    assert specs[0].run_id != plain.run_id
    assert RunSpec.from_dict(specs[0].to_dict()) == specs[0]
    with pytest.raises(MtlbenchError, match="unknown backbone option"):
        expand(grid_from_settings({"methods": "ls", "backbone": {"beams": 1}}))


def test_prepare_builds_the_backbone_with_its_options(tmp_path: Path) -> None:
    spec = RunSpec(
        method="ls",
        dataset="synthetic",
        seed=0,
        backbone="r2gen",
        data_options=SMALL,
        backbone_options=freeze({"beam_size": 1, "block_trigrams": False}),
    )
    model = prepare(spec, None).model
    assert (model.config.beam_size, model.config.block_trigrams) == (1, False)
    weights = RunSpec(
        method="ls",
        dataset="synthetic",
        seed=0,
        data_options=SMALL,
        backbone_options=freeze({"extractor": "resnet101", "extractor_weights": "resnet101.pth"}),
    )
    # a relative weights file resolves against the data root; absent, it is a one-line error
    with pytest.raises(MtlbenchError, match=str(tmp_path / "resnet101.pth")):
        prepare(weights, tmp_path)


def test_most_frequent_report_breaks_ties_by_typicality() -> None:
    assert most_frequent_report(["b .", "a .", "a ."]) == "a ."
    reports = ["heart is large . lungs clear .", "heart normal . lungs clear .", "heart normal . effusion ."]
    assert most_frequent_report(reports) == "heart normal . lungs clear ."
    with pytest.raises(MtlbenchError):
        most_frequent_report([])
