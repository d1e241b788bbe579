"""The embedded synthetic dataset: deterministic, IU-shaped, realistic labels, visible findings."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from mtlbench.cli import cli
from mtlbench.data import DATASETS, Tokenizer, load_annotation
from mtlbench.data.schema import CHEXPERT_LABELS
from mtlbench.data.synthetic import SyntheticConfig, SyntheticSource, generate
from mtlbench.data.synthetic.findings import CO_OCCURRENCE, INCIDENTAL, PREVALENCE, draw_study
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
    return generate(tmp_path_factory.mktemp("synth"), SyntheticConfig(n_train=240, n_val=4, n_test=4, image_size=64))


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    a = _digest(generate(tmp_path / "a", SMALL))
    assert a == _digest(generate(tmp_path / "b", SMALL))
    assert a != _digest(generate(tmp_path / "c", SyntheticConfig(seed=1, n_train=24, n_val=4, n_test=4, image_size=64)))


def test_written_in_iu_layout_with_two_views_and_labels(sample: Path) -> None:
    annotation = load_annotation(sample / "annotation.json", name="synthetic")
    assert {k: len(v) for k, v in annotation.splits.items()} == {"train": 240, "val": 4, "test": 4}
    example = annotation.splits["train"][0]
    assert len(example.image_paths) == 2 and all(
        (Path(annotation.image_dir) / p).is_file() for p in example.image_paths
    )
    assert example.labels is not None and len(example.labels) == 14
    assert CliRunner().invoke(cli, ["data", "check", str(sample)]).exit_code == 0


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_the_rule_labeler_reads_every_report_as_its_stored_labels(tmp_path: Path, noise: float) -> None:
    """Labels follow the report (the reader), at any label noise, in the raw report and in the
    reference as evaluation sees it (cleaned, through the train vocabulary: rare words become <unk>)."""
    folder = generate(tmp_path, SyntheticConfig(n_train=200, n_val=1, n_test=1, image_size=32, label_noise=noise))
    examples = load_annotation(folder / "annotation.json", name="synthetic").splits["train"]
    tokenizer = Tokenizer.build([ex.report for ex in examples], style="iu_xray", threshold=3, max_seq_length=60)
    for ex in examples:
        for text in (ex.report, tokenizer.decode(tokenizer.encode(ex.report)[1:])):
            read = label_report(text)
            assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(ex.labels, read)), (text, ex.labels)


def test_reports_fit_the_iu_sequence_length_and_vary(sample: Path) -> None:
    annotation = load_annotation(sample / "annotation.json", name="synthetic")
    reports = [ex.report for ex in annotation.splits["train"]]
    tokenizer = Tokenizer.build(reports, style="iu_xray", threshold=3, max_seq_length=60)
    assert max(len(tokenizer.encode(r)) for r in reports) < 60  # never truncated: the final 0 survives
    assert len(set(reports)) > 0.9 * len(reports)
    normal = [r for ex, r in zip(annotation.splits["train"], reports) if ex.labels[-1] == 1.0]
    assert len({r.split(".")[0] for r in normal}) >= 4  # several ways to say the heart is normal


def test_no_finding_exactly_when_nothing_but_devices_is_positive_or_uncertain(sample: Path) -> None:
    rows = json.loads((sample / "annotation.json").read_text())["train"]
    annotation = load_annotation(sample / "annotation.json", name="synthetic")
    for row, ex in zip(rows, annotation.splits["train"]):
        pathology = [c for name, c in zip(CHEXPERT_LABELS, ex.labels) if name not in ("No Finding", "Support Devices")]
        expected = not any(c in (1.0, -1.0) for c in pathology) and not row["incidental"]
        assert (ex.labels[-1] == 1.0) == expected


def test_prevalences_and_co_occurrence_follow_the_configured_ones() -> None:
    rng = np.random.default_rng(0)
    studies = [draw_study(rng, label_noise=0.0, uncertain_rate=0.0) for _ in range(4000)]
    shown = {name: np.array([any(f.name == name for f in s.findings) for s in studies]) for name in PREVALENCE}
    for name, p in PREVALENCE.items():
        causes = [(c, q) for c, e, q in CO_OCCURRENCE if e == name]
        expected = 1 - (1 - p) * math.prod(1 - q * shown[c].mean() for c, q in causes)
        slack = 3 * math.sqrt(expected * (1 - expected) / len(studies)) + 0.02  # 0.02: devices, correlated causes
        assert abs(shown[name].mean() - expected) <= slack + (0.05 if name == "Support Devices" else 0), name
    for cause, effect, q in CO_OCCURRENCE:
        assert shown[effect][shown[cause]].mean() >= q - 0.08, (cause, effect)
    for name, p in INCIDENTAL.items():
        assert abs(np.mean([name in s.incidental for s in studies]) - p) < 0.02


def test_label_noise_makes_the_reader_disagree_with_the_image_at_the_chosen_rate() -> None:
    rng = np.random.default_rng(1)
    studies = [draw_study(rng, label_noise=0.1, uncertain_rate=0.0) for _ in range(3000)]
    disagree = np.mean(
        [(s.reading[n] != 0) != any(f.name == n for f in s.findings) for s in studies for n in PREVALENCE]
    )
    assert 0.085 <= disagree <= 0.115


def _frontal(folder: Path, row: dict) -> np.ndarray:
    return np.asarray(Image.open(folder / "images" / row["image_path"][0]), dtype=float)


def _contrast(folder: Path, rows: list[dict], name: str, region: tuple[float, float, float, float]) -> float:
    """Mean intensity in ``region`` (rows y0..y1, columns x0..x1 as fractions) with the finding minus without any."""
    y0, y1, x0, x1 = region

    def mean(row: dict) -> float:
        image = _frontal(folder, row)
        n = image.shape[0]
        return float(image[int(y0 * n) : int(y1 * n), int(x0 * n) : int(x1 * n)].mean())

    with_f = [mean(r) for r in rows if name in r["findings_shown"]]
    without = [mean(r) for r in rows if not r["findings_shown"]]
    assert len(with_f) >= 3 and len(without) >= 20
    return float(np.mean(with_f) - np.mean(without))


def test_findings_change_the_frontal_view_where_they_should(sample: Path) -> None:
    rows = json.loads((sample / "annotation.json").read_text())["train"]
    assert _contrast(sample, rows, "Cardiomegaly", (0.54, 0.64, 0.28, 0.37)) > 15  # the heart reaches the flank
    assert _contrast(sample, rows, "Pleural Effusion", (0.55, 0.7, 0.2, 0.8)) > 8  # fluid in a lung base
    assert _contrast(sample, rows, "Edema", (0.38, 0.54, 0.3, 0.7)) > 8  # perihilar haze
    assert _contrast(sample, rows, "Enlarged Cardiomediastinum", (0.2, 0.4, 0.37, 0.45)) > 10
    metal = [(_frontal(sample, r) >= 250).sum() for r in rows if r["findings_shown"] == ["Support Devices"]]
    plain = [(_frontal(sample, r) >= 250).sum() for r in rows if not r["findings_shown"]]
    assert min(metal, default=99) > np.percentile(plain, 95)


def test_source_options_from_the_command_line_are_validated() -> None:
    source = DATASETS.get("synthetic")(n_train="24", label_noise="0.1")
    assert source.config.n_train == 24 and source.config.label_noise == 0.1
    with pytest.raises(MtlbenchError, match=r"unknown option.*n_trian.*valid: seed, n_train"):
        SyntheticSource(n_trian=3)
    with pytest.raises(MtlbenchError, match=r"label_noise must be in \[0, 0.5\]"):
        SyntheticConfig(label_noise=0.9)


def test_concurrent_first_use_generates_once_atomically(tmp_path: Path) -> None:
    stale = tmp_path / "synthetic" / f".{SMALL.key()}-killed"
    stale.mkdir(parents=True)
    os.utime(stale, (time.time() - 3 * 24 * 3600,) * 2)  # left by a process killed days ago
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
    assert _digest(Path(folder)) == _digest(generate(tmp_path / "ref", SMALL))
    assert [p.name for p in (tmp_path / "synthetic").iterdir()] == [Path(folder).name]  # no temporary leftovers


def test_data_synth_command_writes_a_dataset_that_passes_its_check(tmp_path: Path) -> None:
    args = [
        "data",
        "synth",
        str(tmp_path / "s"),
        "--n-train",
        "6",
        "--n-val",
        "2",
        "--n-test",
        "2",
        "--image-size",
        "32",
    ]
    result = CliRunner().invoke(cli, [*args, "--label-noise", "0.1"])
    assert result.exit_code == 0, result.output
    check = CliRunner().invoke(cli, ["data", "check", str(tmp_path / "s")])
    assert check.exit_code == 0 and "label coverage: 10/10" in check.output
