"""The embedded synthetic dataset: deterministic, IU-shaped, realistic labels, visible findings."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mtlbench.data import DATASETS, load_annotation
from mtlbench.data.schema import CHEXPERT_LABELS
from mtlbench.data.synthetic import SyntheticConfig, SyntheticSource, generate
from mtlbench.data.synthetic.findings import PREVALENCE, draw_study
from mtlbench.errors import MtlbenchError
from mtlbench.metrics.rules import label_report

SMALL = SyntheticConfig(n_train=24, n_val=4, n_test=4, image_size=64)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("synth"), SyntheticConfig(n_train=300, n_val=10, n_test=10, image_size=64))


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    a = _digest(generate(tmp_path / "a", SMALL))
    assert a == _digest(generate(tmp_path / "b", SMALL))
    assert a != _digest(generate(tmp_path / "c", SyntheticConfig(seed=1, n_train=24, n_val=4, n_test=4, image_size=64)))


def test_written_in_iu_layout_with_two_views_and_labels(sample: Path) -> None:
    annotation = load_annotation(sample / "annotation.json", name="synthetic")
    assert {k: len(v) for k, v in annotation.splits.items()} == {"train": 300, "val": 10, "test": 10}
    example = annotation.splits["train"][0]
    assert len(example.image_paths) == 2 and all(
        (Path(annotation.image_dir) / p).is_file() for p in example.image_paths
    )
    assert example.labels is not None and len(example.labels) == 14


def test_labels_agree_with_the_report_wording(sample: Path) -> None:
    """The rule labeler reads the written reports as the stored labels say (>= 97% of all codes)."""
    annotation = load_annotation(sample / "annotation.json", name="synthetic")
    agree = total = 0
    for ex in annotation.splits["train"]:
        read = label_report(ex.report)
        for stored, found in zip(ex.labels, read):
            total += 1
            agree += (math.isnan(stored) and math.isnan(found)) or stored == found
    assert agree / total >= 0.97


def test_no_finding_exactly_when_nothing_but_devices_is_positive_or_uncertain(sample: Path) -> None:
    annotation = load_annotation(sample / "annotation.json", name="synthetic")
    for ex in annotation.splits["train"]:
        pathology = [c for name, c in zip(CHEXPERT_LABELS, ex.labels) if name not in ("No Finding", "Support Devices")]
        expected = not any(c in (1.0, -1.0) for c in pathology)
        assert (ex.labels[-1] == 1.0) == expected


def test_prevalences_follow_the_configured_ones() -> None:
    rng = np.random.default_rng(0)
    studies = [draw_study(rng, label_noise=0.0, uncertain_rate=0.0) for _ in range(4000)]
    for name, p in PREVALENCE.items():
        observed = np.mean([any(f.name == name for f in s.findings) for s in studies])
        slack = 3 * math.sqrt(p * (1 - p) / len(studies))  # three standard errors
        assert p - slack <= observed <= p + 0.08, name  # co-occurrence only adds


def test_label_noise_makes_the_reader_disagree_with_the_image_at_the_chosen_rate() -> None:
    rng = np.random.default_rng(1)
    studies = [draw_study(rng, label_noise=0.1, uncertain_rate=0.0) for _ in range(3000)]
    disagree = np.mean(
        [(s.reading[n] != 0) != any(f.name == n for f in s.findings) for s in studies for n in PREVALENCE]
    )
    assert 0.085 <= disagree <= 0.115


def _region_mean(folder: Path, ex: dict, box: tuple[slice, slice]) -> float:
    return float(np.asarray(Image.open(folder / "images" / ex["image_path"][0]), dtype=float)[box].mean())


def test_findings_change_the_image_where_they_should(sample: Path) -> None:
    import json

    rows = json.loads((sample / "annotation.json").read_text())["train"]

    def contrast(name: str, box: tuple[slice, slice]) -> float:
        with_f = [_region_mean(sample, r, box) for r in rows if name in r["findings_shown"]]
        without = [_region_mean(sample, r, box) for r in rows if not r["findings_shown"]]
        return float(np.mean(with_f) - np.mean(without))

    heart = (slice(30, 48), slice(14, 50))  # lower middle of the frontal view at 64 px
    assert contrast("Cardiomegaly", heart) > 5
    bases = (slice(38, 50), slice(6, 58))  # the lung bases, where effusions gather
    assert contrast("Pleural Effusion", bases) > 3


def test_source_options_from_the_command_line_are_validated() -> None:
    source = DATASETS.get("synthetic")(n_train="24", label_noise="0.1")
    assert source.config.n_train == 24 and source.config.label_noise == 0.1
    with pytest.raises(MtlbenchError, match=r"unknown option.*n_trian.*valid: seed, n_train"):
        SyntheticSource(n_trian=3)


def test_concurrent_first_use_generates_once_atomically(tmp_path: Path) -> None:
    script = (
        "from mtlbench.data.synthetic import SyntheticSource, SyntheticConfig;"
        "print(SyntheticSource(SyntheticConfig(n_train=24, n_val=4, n_test=4, image_size=64)).locate())"
    )
    env = {"MTLBENCH_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = {p.communicate()[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs) and len(outs) == 1
    (folder,) = outs
    assert _digest(Path(folder)) == _digest(
        generate(tmp_path / "ref", SyntheticConfig(n_train=24, n_val=4, n_test=4, image_size=64))
    )
    assert [p.name for p in (tmp_path / "synthetic").iterdir()] == [Path(folder).name]  # no temporary leftovers
