"""Studies with any number of images: all views by default (IU), a max_views cap, padding, MIMIC's one view."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mtlbench.data import DATASETS
from mtlbench.data.images import load_study_images
from mtlbench.data.schema import Annotation, Example
from mtlbench.data.tokenizer import Tokenizer
from mtlbench.data.torch_data import StudyDataset, collate, make_loader
from mtlbench.errors import DataError

SIZE = 32
REPORTS = (
    "The heart is normal in size. The lungs are clear. No pleural effusion.",
    "The heart is enlarged. There is a small left pleural effusion.",
    "The lungs are clear. No pneumothorax. The heart is normal in size.",
)


def _image(seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 36), dtype=np.uint8)
    return Image.fromarray(pixels, mode="L")


def _iu_folder(root: Path, views: dict[str, list[int]]) -> Path:
    """``root``/iu_xray in R2Gen's layout; ``views[split]`` lists each study's image count. File
    names follow Open-I's (never 0.png/1.png), and each study's images differ."""
    folder = root / "iu_xray"
    splits: dict[str, list[dict]] = {}
    seed = 0
    for split, counts in views.items():
        splits[split] = []
        for i, count in enumerate(counts):
            study = f"{split}{i}"
            paths = [f"CXR{study}/CXR{study}_IM-{1001 + k}.png" for k in range(count)]
            for path in paths:
                (folder / "images" / path).parent.mkdir(parents=True, exist_ok=True)
                _image(seed).save(folder / "images" / path)
                seed += 1
            splits[split].append({"id": study, "report": REPORTS[i % len(REPORTS)], "image_path": paths})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "annotation.json").write_text(json.dumps(splits))
    return folder


@pytest.fixture
def iu_root(tmp_path: Path) -> Path:
    _iu_folder(tmp_path, {"train": [1, 2, 3, 2, 1, 3], "val": [2, 1], "test": [3, 1]})
    return tmp_path


def _dataset(annotation: Annotation, split: str, num_views: int) -> StudyDataset:
    reports = [ex.report for ex in annotation.splits["train"]]
    tokenizer = Tokenizer.build(reports, style="iu_xray", threshold=1, max_seq_length=60)
    return StudyDataset(
        annotation.splits[split],
        Path(annotation.image_dir),
        tokenizer,
        num_views=num_views,
        image_size=SIZE,
        train=False,
        uncertain="positive",
    )


def test_iu_uses_every_view_by_default_and_max_views_caps_it(iu_root: Path) -> None:
    iu = DATASETS.get("iu")()
    annotation = iu.load(iu_root)
    assert iu.views_per_study(annotation) == 3
    assert DATASETS.get("iu")(max_views=2).views_per_study(annotation) == 2  # R2Gen's two views
    assert DATASETS.get("iu")(max_views=1).views_per_study(annotation) == 1
    assert DATASETS.get("iu")(max_views=5).views_per_study(annotation) == 3  # never more slots than images


def test_collate_pads_studies_with_zero_slots_and_never_repeats_an_image(iu_root: Path) -> None:
    annotation = DATASETS.get("iu")().load(iu_root)
    data = _dataset(annotation, "train", num_views=3)
    batch = next(iter(make_loader(data, batch_size=3, shuffle=False, seed=0)))  # studies of 1, 2, 3 images
    assert batch.images.shape == (3, 3, 3, SIZE, SIZE)
    assert batch.view_mask.tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert bool((batch.images[~batch.view_mask] == 0).all())  # padding, not a copy of the last image
    for row, example in enumerate(annotation.splits["train"][:3]):
        paths = [Path(annotation.image_dir) / p for p in example.image_paths]
        expected = load_study_images(paths, max_views=3, image_size=SIZE, train=False, generator=None)
        torch.testing.assert_close(batch.images[row, : len(paths)], expected)  # in image_path order

    capped = next(iter(make_loader(_dataset(annotation, "train", 2), batch_size=3, shuffle=False, seed=0)))
    assert capped.images.shape[1] == 2 and capped.view_mask.tolist() == [[True, False], [True, True], [True, True]]
    torch.testing.assert_close(capped.images[2], batch.images[2, :2])  # the cap keeps the first images


def test_a_batch_of_single_view_studies_has_one_slot(iu_root: Path) -> None:
    annotation = DATASETS.get("iu")().load(iu_root)
    data = _dataset(annotation, "train", num_views=3)
    batch = collate([data[0], data[4]])  # both studies have one image
    assert batch.images.shape[1] == 1 and bool(batch.view_mask.all())


def test_real_iu_layout_with_one_two_and_three_image_studies_trains_and_generates(iu_root: Path) -> None:
    """The runner's path: the IU source, V from the annotation, padded batches, a training step
    of an MTL method on cmn (the cross-modal memory), generation of every test study."""
    from mtlbench.methods import create
    from mtlbench.runner.run_one import prepare
    from mtlbench.runner.spec import RunSpec
    from mtlbench.train.config import TrainConfig
    from mtlbench.train.loop import generate_reports
    from mtlbench.train.step import Trainer

    spec = RunSpec(
        method="pcgrad",
        dataset="iu",
        seed=0,
        backbone="cmn",
        backbone_options=(("beam_size", 2),),
        train=TrainConfig(batch_size=4, image_size=SIZE, probe_every=0),
    )
    prep = prepare(spec, iu_root)
    assert prep.model.config.num_views == 3 and prep.splits["train"].num_views == 3
    trainer = Trainer(prep.model, create("pcgrad"), spec.train, torch.device("cpu"))
    trainer.start_epoch(0)
    before = [p.detach().clone() for p in prep.model.shared_parameters()]
    slots = []
    for batch in prep.train_batches(spec.seed)(0):
        slots.append(batch.images.shape[1])
        trainer.step(batch)
    assert max(slots) == 3 and any(not bool(b.view_mask.all()) for b in prep.train_batches(0)(0))
    assert any(not torch.equal(a, p) for a, p in zip(before, prep.model.shared_parameters()))
    ids, texts = generate_reports(prep.model, prep.loaders["test"], torch.device("cpu"))
    assert ids == ["test0", "test1"] and all(isinstance(t, str) for t in texts)

    capped = prepare(RunSpec(method="ls", dataset="iu", seed=0, data_options=(("max_views", 2),)), iu_root)
    assert capped.model.config.num_views == 2
    assert max(b.images.shape[1] for b in capped.loaders["train"]) == 2


def test_a_run_records_its_number_of_views(iu_root: Path) -> None:
    """V is a function of the annotation (and options), recorded with the run's metrics so the
    same model can be rebuilt for evaluation."""
    from mtlbench.metrics.config import EvalConfig
    from mtlbench.results import DONE, METRICS, read_json, run_dir
    from mtlbench.runner.run_one import run_one
    from mtlbench.runner.spec import RunSpec
    from mtlbench.train.config import TrainConfig

    spec = RunSpec(
        method="ls",
        dataset="iu",
        seed=0,
        backbone_options=(("beam_size", 1),),
        train=TrainConfig(epochs=1, batch_size=4, image_size=SIZE, probe_every=0, monitor="loss"),
        eval=EvalConfig(meteor=False),
    )
    assert run_one(spec, iu_root / "results", data_root=iu_root) == DONE
    assert read_json(run_dir(iu_root / "results", spec.run_id) / METRICS)["data"]["num_views"] == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_views": 0}, "max_views must be a positive integer; got 0"),
        ({"max_views": "two"}, "max_views must be a positive integer; got 'two'"),
        ({"max_views": True}, "max_views must be a positive integer; got True"),
        ({"max_views": 1.5}, "max_views must be a positive integer; got 1.5"),
        ({"views": 2}, r"unknown data option \['views'\]; valid: labels_csv, max_views"),
    ],
)
def test_bad_view_options_are_refused_in_one_line(options: dict, message: str) -> None:
    with pytest.raises(DataError, match=message) as err:
        DATASETS.get("iu")(**options)
    assert "\n" not in str(err.value)


def _annotation(counts: list[int]) -> Annotation:
    examples = [
        Example(id=str(i), report="x", image_paths=tuple(f"{i}/{k}.png" for k in range(n)))
        for i, n in enumerate(counts)
    ]
    return Annotation(name="toy", splits={"train": examples, "val": [], "test": []})


def test_mimic_stays_single_view_unless_asked_and_synthetic_keeps_two() -> None:
    many = _annotation([2, 4, 1])
    assert DATASETS.get("mimic")().views_per_study(many) == 1  # R2Gen's image_path[0]
    assert DATASETS.get("mimic")(max_views=3).views_per_study(many) == 3  # an explicit opt-in
    assert DATASETS.get("synthetic")().views_per_study(many) == 2
    assert DATASETS.get("iu")().views_per_study(many) == 4
    with pytest.raises(DataError, match="no study lists an image"):
        DATASETS.get("iu")().views_per_study(_annotation([0, 0]))


def test_a_study_without_images_and_a_zero_cap_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no image_path entries"):
        load_study_images([], max_views=2, image_size=SIZE, train=False, generator=None)
    _image(0).save(tmp_path / "a.png")
    with pytest.raises(DataError, match="max_views must be at least 1"):
        load_study_images([tmp_path / "a.png"], max_views=0, image_size=SIZE, train=False, generator=None)
