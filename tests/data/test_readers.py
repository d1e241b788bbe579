"""Reading R2Gen-style datasets: real IU reports, malformed input, labels, images, data check."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from mtlbench.cli import cli
from mtlbench.data import DATASETS, attach_labels, check_dataset, load_annotation
from mtlbench.data.images import load_study_images
from mtlbench.data.labels import read_label_csv
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
        ('{"train": [', r"not valid JSON: .* \(line 1, column 12\)"),
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


def test_images_gray_rgb_png_jpeg_become_normalised_rgb_views(tmp_path: Path) -> None:
    gray = Image.fromarray(np.tile(np.arange(80, dtype=np.uint8), (60, 1)), mode="L")
    gray.save(tmp_path / "g.png")
    gray.convert("RGB").save(tmp_path / "c.jpg", quality=95)
    views = load_study_images(
        [tmp_path / "g.png", tmp_path / "c.jpg"], max_views=2, image_size=32, train=False, generator=None
    )
    assert views.shape == (2, 3, 32, 32)
    from mtlbench.data.images import IMAGENET_MEAN, IMAGENET_STD

    pixels = views[0] * IMAGENET_STD + IMAGENET_MEAN
    torch.testing.assert_close(pixels[0], pixels[2])  # grey -> identical RGB channels before normalising
    assert (views[0] - views[1]).abs().mean() < 0.1  # JPEG of the same picture
    one = load_study_images([tmp_path / "g.png"], max_views=2, image_size=32, train=False, generator=None)
    assert one.shape == (1, 3, 32, 32)  # never repeated to fill a second view: collation pads and masks


def test_train_augmentation_is_reproducible_from_its_generator(tmp_path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (70, 90), dtype=np.uint8), mode="L").save(
        tmp_path / "x.png"
    )

    def draw(seed: int) -> torch.Tensor:
        return load_study_images(
            [tmp_path / "x.png"], max_views=1, image_size=32, train=True, generator=torch.Generator().manual_seed(seed)
        )

    torch.testing.assert_close(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))


def test_real_iu_check_names_the_missing_files_with_their_study(shared_iu: Path) -> None:
    (missing,) = [e for e in check_dataset(shared_iu, name="iu_xray").errors if "missing" in e]
    assert "CXR3321_IM-1588-1001.png (id 3321)" in missing and "does not exist" in missing


def test_duplicate_ids_within_a_split_are_an_error(tmp_path: Path) -> None:
    folder = _dataset(tmp_path)
    data = json.loads((folder / "annotation.json").read_text())
    data["train"].append(_study("b", ["b/0.png"]))
    (folder / "annotation.json").write_text(json.dumps(data))
    assert "1 ids appear twice in train: b" in " | ".join(check_dataset(folder, name="toy").errors)


def test_an_image_path_that_does_not_exist_fails_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"image .*nowhere.png does not exist; run `mtlbench data check`") as err:
        load_study_images([tmp_path / "nowhere.png"], max_views=1, image_size=16, train=False, generator=None)
    assert "\n" not in str(err.value)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot be read"):
        load_study_images([tmp_path / "broken.png"], max_views=1, image_size=16, train=False, generator=None)


def test_mimic_fields_and_one_view(tmp_path: Path) -> None:
    """R2Gen's MIMIC-CXR annotation: dicom id, study_id and subject_id as ints, one image used."""
    image = Image.fromarray(np.full((40, 30), 128, dtype=np.uint8), mode="L")
    row = {
        "id": "02aa804e-bde0afdd",
        "study_id": 50414267,
        "subject_id": 10000032,
        "report": "FINDINGS:\nNo acute process.",
        "image_path": ["p10/p10000032/s50414267/02aa804e-bde0afdd.jpg", "p10/p10000032/s50414267/other.jpg"],
        "split": "train",
    }
    splits = {"train": [row], "val": [{**row, "id": "v"}], "test": [{**row, "id": "t", "study_id": 50414268}]}
    files = {row["image_path"][0]: image, row["image_path"][1]: image.point(lambda v: 255 - v)}
    _write(tmp_path / "mimic_cxr", splits, files)
    source = DATASETS.get("mimic")()
    assert source.settings.num_views == 1 and source.settings.threshold == 10 and source.settings.max_seq_length == 100
    annotation = source.load(tmp_path)
    example = annotation.splits["train"][0]
    assert (example.study_id, example.subject_id) == ("50414267", "10000032")
    views = load_study_images(
        [Path(annotation.image_dir) / p for p in example.image_paths],
        max_views=source.views_per_study(annotation),
        image_size=16,
        train=False,
        generator=None,
    )
    assert views.shape == (1, 3, 16, 16)  # only image_path[0], as R2Gen


def _labels_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    columns = ["subject_id", "study_id", *sorted(CHEXPERT_LABELS)]
    lines = [",".join(columns)] + [",".join(row.get(c, "") for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_labels_csv_joins_through_the_source_option_and_data_check(tmp_path: Path) -> None:
    image = Image.fromarray(np.zeros((8, 8), dtype=np.uint8), mode="L")
    splits = {
        "train": [_study("a", ["a.jpg"], study_id=50000001), _study("b", ["a.jpg"], study_id=50000002)],
        "val": [_study("c", ["a.jpg"], study_id=50000003)],
        "test": [_study("d", ["a.jpg"], study_id=50000004)],
    }
    _write(tmp_path / "mimic_cxr", splits, {"a.jpg": image})
    csv = _labels_csv(
        tmp_path / "mimic-cxr-2.0.0-chexpert.csv", [{"subject_id": "1", "study_id": "50000001", "Edema": "-1.0"}]
    )
    annotation = DATASETS.get("mimic")(labels_csv=str(csv)).load(tmp_path)
    edema = CHEXPERT_LABELS.index("Edema")
    assert annotation.splits["train"][0].labels[edema] == -1.0 and annotation.splits["train"][1].labels is None
    result = CliRunner().invoke(cli, ["data", "check", str(tmp_path / "mimic_cxr"), "--labels-csv", str(csv)])
    assert result.exit_code == 0 and "label coverage: 1/4 studies carry labels" in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("subject_id,Edema\n1,1.0\n", "has no study_id column"),
        ("subject_id,study_id,Edema\n1,5,1.0\n", "lacks the label columns"),
    ],
)
def test_malformed_labels_csvs_are_refused(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "labels.csv").write_text(text)
    annotation = load_annotation(_dataset(tmp_path / "d") / "annotation.json", name="mimic_cxr")
    with pytest.raises(DataError, match=message):
        attach_labels(annotation, csv_path=tmp_path / "labels.csv")


def test_labels_csv_values_must_be_chexpert_codes(tmp_path: Path) -> None:
    csv = _labels_csv(tmp_path / "l.csv", [{"subject_id": "1", "study_id": "5", "Edema": "2.0"}])
    annotation = load_annotation(_dataset(tmp_path / "d") / "annotation.json", name="mimic_cxr")
    with pytest.raises(
        DataError, match=r"l.csv line 2, column 'Edema': 2.0 is not a CheXpert code .* must be 1.0, 0.0, -1.0"
    ):
        attach_labels(annotation, csv_path=csv)


def test_labeler_cache_is_keyed_by_the_labelers_version(tmp_path: Path) -> None:
    annotation = load_annotation(_dataset(tmp_path / "d") / "annotation.json", name="iu_xray")
    calls: list[int] = []

    class Labeler:
        def __init__(self, key: str) -> None:
            self.cache_key = key

        def label(self, reports: list[str]) -> list[tuple[float, ...]]:
            calls.append(len(reports))
            return [(1.0,) * 14 for _ in reports]

    for key in ("v1", "v1", "v2"):
        labelled = attach_labels(annotation, labeler=Labeler(key), cache_dir=tmp_path / "cache")
    assert calls == [4, 4] and labelled.splits["test"][0].labels == (1.0,) * 14


def test_data_root_comes_from_the_option_else_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mtlbench.data.sources import resolve_data_root

    monkeypatch.setenv("MTLBENCH_DATA", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "opt") == tmp_path / "opt"
    assert resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("MTLBENCH_DATA")
    assert resolve_data_root(None) is None
    with pytest.raises(DataError, match=r"--data-root or set \$MTLBENCH_DATA"):
        DATASETS.get("iu")().locate(None)


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = (np.tile(np.linspace(0, 65535, 32), (32, 1))).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    Image.fromarray((ramp // 257).astype(np.uint8), mode="L").save(tmp_path / "flat.png")
    deep, flat = (
        load_study_images([tmp_path / name], max_views=1, image_size=32, train=False, generator=None)
        for name in ("deep.png", "flat.png")
    )
    torch.testing.assert_close(deep, flat, atol=0.03, rtol=0)


def test_real_iu_reports_are_labelled_by_the_rule_labeler_and_cached(shared_iu: Path, tmp_path: Path) -> None:
    from mtlbench.metrics import LABELERS

    annotation = load_annotation(shared_iu / "annotation.json", name="iu_xray")
    test_only = dataclasses.replace(annotation, splits={"train": [], "val": [], "test": annotation.splits["test"]})
    labeler = LABELERS.get("rules").from_config(None)
    labelled = attach_labels(test_only, labeler=labeler, cache_dir=tmp_path)
    codes = np.array([ex.labels for ex in labelled.splits["test"]])
    assert codes.shape == (382, 14)
    assert 0.3 < np.mean(codes[:, -1] == 1.0) < 0.6  # No Finding
    assert len(list(tmp_path.glob(f"labels-{labeler.cache_key}-*.json"))) == 1
    again = attach_labels(
        test_only, labeler=lambda reports: pytest.fail("not cached"), cache_dir=tmp_path, labeler_name=labeler.cache_key
    )
    assert np.array_equal(np.array([ex.labels for ex in again.splits["test"]]), codes, equal_nan=True)


def test_a_latin1_annotation_is_one_line_in_data_check_and_in_training(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "iu_xray")
    text = (folder / "annotation.json").read_text().replace("The heart is normal", "Cœur normal, pas d'épanchement")
    (folder / "annotation.json").write_bytes(text.encode("cp1252"))
    result = CliRunner().invoke(cli, ["data", "check", str(folder)])
    assert result.exit_code == 1 and (result.exception is None or isinstance(result.exception, SystemExit))
    (error,) = [line for line in result.output.splitlines() if line.startswith("  error:")]
    assert re.search(
        r"annotation.json is not UTF-8 text \(byte 0x9c at line 1, column \d+\); mtlbench reads UTF-8", error
    )
    with pytest.raises(DataError, match="is not UTF-8 text"):
        DATASETS.get("iu")().load(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda text: text.replace('"id": "a"', '"id": "a", "id": "z"', 1), r"has the key 'id' twice in one object"),
        (lambda text: text.replace('"test": [', '"test": 7, "x": [', 1), r"split 'test' must be a list of examples"),
        (lambda text: text.replace('"id": "a"', '"id": {"x": 1}', 1), r"train\[0\]: 'id' must be a non-empty text"),
        (
            lambda text: text.replace('"id": "a"', '"id": "a", "labels": ["yes"' + ", 0" * 13 + "]", 1),
            r"train\[0\] \(id a\): 'labels' codes must be 1, 0, -1 or null .*; found \['yes'\]",
        ),
    ],
)
def test_duplicate_keys_and_values_of_the_wrong_type_name_their_place(tmp_path: Path, change, message: str) -> None:
    folder = _dataset(tmp_path)
    path = folder / "annotation.json"
    path.write_text(change(path.read_text()))
    with pytest.raises(DataError, match=message) as err:
        load_annotation(path, name="iu_xray")
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_empty_splits_fail_the_check(tmp_path: Path) -> None:
    _write(tmp_path / "none", {"train": [], "val": [], "test": []})
    report = check_dataset(tmp_path / "none", name="iu_xray")
    assert not report.ok and any("the split(s) ['train', 'val', 'test'] hold no example" in e for e in report.errors)
    result = CliRunner().invoke(cli, ["data", "check", str(tmp_path / "none")])
    assert result.exit_code == 1 and "hold no example; training needs examples in each of" in result.output
    folder = _dataset(tmp_path / "no_val")
    data = json.loads((folder / "annotation.json").read_text())
    (folder / "annotation.json").write_text(json.dumps(data | {"val": []}))
    assert any("the split(s) ['val'] hold no example" in e for e in check_dataset(folder, name="x").errors)


@pytest.mark.parametrize(
    ("data", "suffix", "message"),
    [
        ("subject_id,study_id,Edema\n1,5,1.0\n".encode("utf-16"), ".csv", r"is UTF-16 text"),
        (b"\x1f\x8b\x08\x00garbage", ".csv.gz", r"labels.csv.gz is not a valid .gz file .*download it again"),
        (b"subject_id,study_id,Edema,Edema\n1,5,1.0,0.0\n", ".csv", r"names the columns \['Edema'\] twice"),
    ],
)
def test_labels_csv_encodings_compression_and_header(tmp_path: Path, data: bytes, suffix: str, message: str) -> None:
    path = tmp_path / f"labels{suffix}"
    path.write_bytes(data)
    with pytest.raises(DataError, match=message) as err:
        read_label_csv(path)
    assert "\n" not in str(err.value)


def test_labels_csv_cells_and_rows_are_named_by_line_and_column(tmp_path: Path) -> None:
    bad = _labels_csv(tmp_path / "bad.csv", [{"study_id": "5", "Edema": "1.0"}, {"study_id": "6", "Edema": "yes"}])
    with pytest.raises(DataError, match=r"bad.csv line 3, column 'Edema': yes is not a CheXpert code"):
        read_label_csv(bad)
    blank = _labels_csv(tmp_path / "blank.csv", [{"study_id": "5"}, {"study_id": ""}])
    with pytest.raises(DataError, match=r"blank.csv line 3 has no study_id; every row needs one"):
        read_label_csv(blank)
    gz = tmp_path / "ok.csv.gz"
    gz.write_bytes(gzip.compress(_labels_csv(tmp_path / "ok.csv", [{"study_id": "s5", "Edema": "-1.0"}]).read_bytes()))
    assert read_label_csv(gz)["5"][CHEXPERT_LABELS.index("Edema")] == -1.0
