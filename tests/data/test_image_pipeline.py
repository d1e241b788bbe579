"""The two-stage image path gives R2Gen's pixels; reduced decoding is a different, recorded setting;
loader workers and the epoch sampler leave the batches as the single-process loader makes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from mtlbench.data.images import IMAGENET_MEAN, IMAGENET_STD, decode_resized, load_study_images, resized_shape
from mtlbench.data.schema import Example
from mtlbench.data.tokenizer import Tokenizer
from mtlbench.data.torch_data import EpochSampler, StudyDataset, make_loader
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig


def r2gen_reference(path: Path, *, image_size: int, train: bool, generator: torch.Generator | None) -> torch.Tensor:
    """The single-pass path of earlier mtlbench versions (torchvision's transforms in PIL), kept
    literally as the reference: RGB first, resize, crop, flip, normalise."""
    with Image.open(path) as image:
        image = image.convert("RGB")
    if not train:
        image = image.resize((image_size, image_size), Image.BILINEAR)
    else:
        short = round(image_size * 256 / 224)
        w, h = image.size
        scale = short / min(w, h)
        image = image.resize((max(short, round(w * scale)), max(short, round(h * scale))), Image.BILINEAR)
        w, h = image.size
        top = int(torch.randint(0, h - image_size + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - image_size + 1, (1,), generator=generator))
        image = image.crop((left, top, left + image_size, top + image_size))
        if float(torch.rand(1, generator=generator)) < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return (torch.from_numpy(array).permute(2, 0, 1) - IMAGENET_MEAN) / IMAGENET_STD


def _pictures(folder: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    smooth = np.clip(np.cumsum(rng.normal(size=(90, 70)), axis=1) * 6 + 128, 0, 255).astype(np.uint8)
    color = rng.integers(0, 255, (61, 83, 3), dtype=np.uint8)
    files = {
        "gray.png": Image.fromarray(smooth, mode="L"),
        "gray.jpg": Image.fromarray(smooth, mode="L"),
        "rgb.jpg": Image.fromarray(color, mode="RGB"),
        "palette.png": Image.fromarray(color, mode="RGB").convert("P"),
    }
    paths = []
    for name, image in files.items():
        image.save(folder / name)
        paths.append(folder / name)
    return paths


@pytest.mark.parametrize("train", [False, True])
def test_the_two_stages_give_r2gen_pixels_exactly(tmp_path: Path, train: bool) -> None:
    for path in _pictures(tmp_path):
        for size in (32, 57):
            got = load_study_images(
                [path], max_views=1, image_size=size, train=train, generator=torch.Generator().manual_seed(5)
            )[0]
            expected = r2gen_reference(path, image_size=size, train=train, generator=torch.Generator().manual_seed(5))
            assert torch.equal(got, expected), (path.name, size)
            assert (
                resized_shape(path, image_size=size, train=train)
                == decode_resized(path, image_size=size, train=train).shape
            )


def test_reduced_decoding_keeps_the_geometry_and_changes_jpeg_pixels_only_a_little(tmp_path: Path) -> None:
    y, x = np.mgrid[0:900, 0:760]
    picture = (128 + 60 * np.sin(x / 90) * np.cos(y / 120)).astype(np.uint8)
    Image.fromarray(picture, mode="L").save(tmp_path / "big.jpg", quality=95)
    Image.fromarray(picture, mode="L").save(tmp_path / "big.png")
    for train in (False, True):
        full = decode_resized(tmp_path / "big.jpg", image_size=64, train=train)
        reduced = decode_resized(tmp_path / "big.jpg", image_size=64, train=train, decode="reduced")
        assert full.shape == reduced.shape  # computed from the file's own size, not the decoder's
        difference = np.abs(full.astype(int) - reduced.astype(int))
        assert 0 < difference.mean() < 2.0  # other pixels: hence a setting in the run id
        png = decode_resized(tmp_path / "big.png", image_size=64, train=train, decode="reduced")
        assert np.array_equal(png, decode_resized(tmp_path / "big.png", image_size=64, train=train))
    base = RunSpec("ls", "synthetic", 0)
    reduced_spec = RunSpec("ls", "synthetic", 0, train=TrainConfig(image_decode="reduced"))
    assert "image_decode" not in base.to_dict()["train"]  # earlier stores keep their run ids
    assert reduced_spec.run_id != base.run_id and reduced_spec.to_dict()["train"]["image_decode"] == "reduced"
    assert RunSpec("ls", "synthetic", 0, train=TrainConfig(precision="bf16")).run_id != base.run_id


@pytest.mark.parametrize("seed", [0, 7])
def test_the_epoch_sampler_shuffles_as_a_seeded_dataloader_did(seed: int) -> None:
    for epoch in (0, 3):
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        before = list(DataLoader(list(range(37)), batch_size=1, shuffle=True, generator=generator))
        sampler = EpochSampler(37, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        assert [int(b) for b in before] == [i for e, i in sampler] and {e for e, _ in sampler} == {epoch}


def test_loader_workers_give_the_same_batches_and_augmentation(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    examples = []
    for i in range(10):
        Image.fromarray(rng.integers(0, 255, (40, 48), dtype=np.uint8), mode="L").save(tmp_path / f"{i}.png")
        examples.append(Example(id=f"s{i}", report="the heart is normal .", image_paths=(f"{i}.png",)))
    tokenizer = Tokenizer.build([e.report for e in examples], style="iu_xray", threshold=1, max_seq_length=20)

    def batches(workers: int) -> list[tuple[tuple[str, ...], torch.Tensor]]:
        data = StudyDataset(
            examples, tmp_path, tokenizer, num_views=1, image_size=32, train=True, uncertain="positive", seed=3
        )
        loader = make_loader(data, batch_size=4, shuffle=True, seed=3, workers=workers)
        out = []
        for epoch in (0, 1):  # persistent workers never see a set_epoch: the sampler carries it
            loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
            out += [(b.ids, b.images) for b in loader]
        return out

    single, pooled = batches(0), batches(2)
    assert [ids for ids, _ in single] == [ids for ids, _ in pooled]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(single, pooled))
    assert single[0][0] != single[3][0] or not torch.equal(single[0][1], single[3][1])  # epochs differ
