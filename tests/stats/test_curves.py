"""Training curves from the store: restarts superseded, steps binned, seeds summarised by mean and range."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mtlbench.results import read_train_log
from mtlbench.stats.curves import Series, band, run_curves


def _write(path: Path, entries: list[dict], tail: str = "") -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries) + tail)


def _step(epoch: int, step: int, cos: float) -> dict:
    return {"kind": "step", "epoch": epoch, "step": step, "cosines": {"report|cls": cos}, "weights": {"cls": cos}}


def test_a_restart_supersedes_what_the_interrupted_attempt_logged(tmp_path: Path) -> None:
    entries = [_step(0, s, 0.1 * (s + 1)) for s in range(4)]
    entries.append({"kind": "epoch", "epoch": 0, "val": {"BLEU_4": 0.1}})
    entries += [_step(1, 4, 9.0), _step(1, 5, 9.0)]  # killed mid-epoch: redone after the restart
    entries.append({"kind": "resume", "epoch": 1, "step": 4})
    entries += [_step(1, s, 0.1 * (s + 1)) for s in range(4, 8)]
    entries.append({"kind": "epoch", "epoch": 1, "val": {"BLEU_4": 0.2}})
    _write(tmp_path / "train_log.jsonl", entries, tail='{"kind": "step", "ep')  # a line cut by a kill
    log = read_train_log(tmp_path / "train_log.jsonl")
    assert [e["step"] for e in log if e["kind"] == "step"] == list(range(8))
    assert [e["val"]["BLEU_4"] for e in log if e["kind"] == "epoch"] == [0.1, 0.2]
    curves = run_curves(tmp_path, run_id="r", method="m", seed=0, epochs=20)  # 40 bins / 20 epochs: 2 per epoch
    cosine = curves.step["cosines"]["report|cls"]
    np.testing.assert_allclose(cosine.x, [0.25, 0.75, 1.25, 1.75])
    np.testing.assert_allclose(cosine.y, [0.15, 0.35, 0.55, 0.75])  # the mean of the two steps of each bin
    np.testing.assert_allclose(curves.val["BLEU_4"].x, [1.0, 2.0])  # validation sits at the end of its epoch
    assert read_train_log(tmp_path / "missing.jsonl") == []


def test_a_band_is_the_mean_and_range_over_seeds_where_each_has_values() -> None:
    a = Series(np.array([1.0, 2.0]), np.array([0.0, 1.0]))
    b = Series(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 5.0]))
    result = band([a, b])
    assert result is not None and result.seeds == 2
    np.testing.assert_allclose(result.x, [1, 2, 3])
    np.testing.assert_allclose(result.mean, [1.0, 2.0, 5.0])
    np.testing.assert_allclose(result.low, [0.0, 1.0, 5.0])
    np.testing.assert_allclose(result.high, [2.0, 3.0, 5.0])
    assert band([]) is None
