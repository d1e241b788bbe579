"""Reading R2Gen-style datasets: real IU reports, malformed input, labels, images, data check."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from mtlbench.cli import cli
from mtlbench.data import DATASETS, attach_labels, check_dataset, load_annotation
from mtlbench.data.images import load_study_images
from mtlbench.data.schema import CHEXPERT_LABELS
from mtlbench.errors import DataError


def _write(folder: Path, annotation: object, images: dict[str, Image.Image] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "annotation.json").write_text(annotation if isinstance(annotation, str) else json.dumps(annotation))
    for rel, image in (images or {}).items():
        (folder / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
        image.save(folder / "images" / rel)
    return folder


def _study(i: str, paths: list[str], **extra: object) -> dict:
    return {"id": i, "report": "The heart is normal. No effusion.", "image_path": paths, **extra}


def _dataset(folder: Path) -> Path:
    image = Image.fromarray(np.arange(64 * 48, dtype=np.uint8).reshape(48, 64) % 251, mode="L")
    splits = {
        "train": [_study("a", ["a/0.png", "a/1.png"]), _study("b", ["b/0.png"])],
        "val": [_study("c", ["c/0.png", "c/1.png"])],
        "test": [_study("d", ["d/0.png", "d/1.png"])],
    }
    files = {p: image for s in splits.values() for ex in s for p in ex["image_path"]}
    return _write(folder, splits, files)


def test_real_iu_annotation_loads_and_check_reports_its_missing_images(shared_iu: Path) -> None:
    report = check_dataset(shared_iu, name="iu_xray")
    assert report.summary["split sizes"] == {"train": 3062, "val": 382, "test": 382}
    (missing,) = [e for e in report.errors if "image files are missing" in e]
    assert missing.startswith(f"{report.summary['images']} of {report.summary['images']} image files are missing")
    assert "CXR" in missing and "more)" in missing  # first examples named, the rest counted


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"train": [', r"not valid JSON: .* at line 1, column 12"),
        (json.dumps({"train": [], "val": []}), r"has no split \['test'\]"),
        (
            json.dumps({"train": [{"id": "x", "image_path": []}], "val": [], "test": []}),
            r"train\[0\] \(id x\) has no 'report'",
        ),
    ],
)
def test_malformed_annotations_fail_with_one_line(tmp_path: Path, content: str, message: str) -> None:
    _write(tmp_path, content)
    with pytest.raises(DataError, match=message) as err:
        load_annotation(tmp_path / "annotation.json", name="iu_xray")
    assert "\n" not in str(err.value)


def test_check_finds_missing_images_duplicates_leaks_and_empty_reports(tmp_path: Path) -> None:
    folder = _dataset(tmp_path)
    data = json.loads((folder / "annotation.json").read_text())
    data["test"].append(_study("a", ["a/0.png"]))  # in train too
    data["val"].append({**_study("e", ["e/9.png"]), "report": "  "})
    (folder / "annotation.json").write_text(json.dumps(data))
    report = check_dataset(folder, name="toy")
    assert not report.ok
    text = " | ".join(report.errors)
    assert "1 of 9 image files are missing" in text and "e/9.png" in text
    assert "1 ids are in more than one split (leakage): a" in text
    assert "1 examples have an empty report: e" in text


def test_data_check_command_exits_non_zero_on_a_broken_dataset(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "ok")
    assert CliRunner().invoke(cli, ["data", "check", str(folder)]).exit_code == 0
    (folder / "images" / "a" / "1.png").unlink()
    result = CliRunner().invoke(cli, ["data", "check", str(folder)])
    assert result.exit_code == 1 and "1 of 7 image files are missing" in result.output


def test_training_refuses_a_dataset_that_fails_its_check(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "iu_xray")
    (folder / "images" / "d" / "1.png").unlink()
    with pytest.raises(DataError, match="fails its check: 1 of 7 image files are missing"):
        DATASETS.get("iu")().load(tmp_path)


def test_missing_real_datasets_name_path_layout_and_source(tmp_path: Path) -> None:
    for name, where in (("iu", "Open-I"), ("mimic", "PhysioNet")):
        with pytest.raises(DataError) as err:
            DATASETS.get(name)().locate(tmp_path)
        message = str(err.value)
        assert str(tmp_path) in message and "annotation.json" in message and where in message


def test_labels_come_from_annotation_then_csv_then_labeler(tmp_path: Path) -> None:
    promptmrg = [1, 2, 3, 0] + [0] * 14
    splits = {
        "train": [_study("a", ["a.png"], labels=promptmrg), _study("b", ["b.png"], study_id="50")],
        "val": [_study("c", ["c.png"], study_id="51")],
        "test": [],
    }
    _write(tmp_path, splits)
    annotation = load_annotation(tmp_path / "annotation.json", name="mimic_cxr")
    assert annotation.splits["train"][0].labels[:3] == (1.0, 0.0, -1.0) and math.isnan(
        annotation.splits["train"][0].labels[3]
    )
    columns = ["subject_id", "study_id", *sorted(CHEXPERT_LABELS)]
    row = {c: "" for c in columns} | {"subject_id": "1", "study_id": "50", "Edema": "1.0"}
    (tmp_path / "labels.csv").write_text(",".join(columns) + "\n" + ",".join(row[c] for c in columns) + "\n")
    calls: list[list[str]] = []

    def labeler(reports: list[str]) -> list[tuple[float, ...]]:
        calls.append(reports)
        return [(0.0,) * 14 for _ in reports]

    labelled = attach_labels(annotation, csv_path=tmp_path / "labels.csv", labeler=labeler, cache_dir=tmp_path / "c")
    assert labelled.splits["train"][1].labels[CHEXPERT_LABELS.index("Edema")] == 1.0
    assert labelled.splits["val"][0].labels == (0.0,) * 14
    assert len(calls) == 1 and len(calls[0]) == 1  # only the study without labels went to the labeler
    attach_labels(annotation, csv_path=tmp_path / "labels.csv", labeler=labeler, cache_dir=tmp_path / "c")
    assert len(calls) == 1  # cached


def test_a_labels_csv_without_study_id_is_refused(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("subject_id,Edema\n1,1.0\n")
    annotation = load_annotation(_dataset(tmp_path / "d") / "annotation.json", name="mimic_cxr")
    with pytest.raises(DataError, match="has no study_id column"):
        attach_labels(annotation, csv_path=tmp_path / "labels.csv")


def test_images_gray_rgb_png_jpeg_become_normalised_rgb_views(tmp_path: Path) -> None:
    gray = Image.fromarray(np.tile(np.arange(80, dtype=np.uint8), (60, 1)), mode="L")
    gray.save(tmp_path / "g.png")
    gray.convert("RGB").save(tmp_path / "c.jpg", quality=95)
    views = load_study_images(
        [tmp_path / "g.png", tmp_path / "c.jpg"], num_views=2, image_size=32, train=False, generator=None
    )
    assert views.shape == (2, 3, 32, 32)
    from mtlbench.data.images import IMAGENET_MEAN, IMAGENET_STD

    pixels = views[0] * IMAGENET_STD + IMAGENET_MEAN
    torch.testing.assert_close(pixels[0], pixels[2])  # grey -> identical RGB channels before normalising
    assert (views[0] - views[1]).abs().mean() < 0.1  # JPEG of the same picture
    one = load_study_images([tmp_path / "g.png"], num_views=2, image_size=32, train=False, generator=None)
    torch.testing.assert_close(one[0], one[1])  # a single image is repeated for the second view


def test_train_augmentation_is_reproducible_from_its_generator(tmp_path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (70, 90), dtype=np.uint8), mode="L").save(
        tmp_path / "x.png"
    )

    def draw(seed: int) -> torch.Tensor:
        return load_study_images(
            [tmp_path / "x.png"], num_views=1, image_size=32, train=True, generator=torch.Generator().manual_seed(seed)
        )

    torch.testing.assert_close(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))
