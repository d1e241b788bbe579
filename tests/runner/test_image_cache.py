"""The image cache: R2Gen's pixels once per dataset, shared, verified, never stale, robust to bad files."""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mtlbench.data.images import decode_resized
from mtlbench.errors import DataError, MtlbenchError
from mtlbench.runner import image_cache
from mtlbench.runner.image_cache import ImageNeeds, ImageTransform, ensure_image_cache, prebuild_image_caches
from mtlbench.runner.spec import RunSpec


def _folder(root: Path, count: int = 6) -> Path:
    """An image folder with gray PNGs, an RGB JPEG and a 16-bit PNG (a DICOM conversion)."""
    rng = np.random.default_rng(0)
    images = root / "images"
    (images / "p1").mkdir(parents=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (50 + i, 40), dtype=np.uint8), mode="L").save(images / f"p1/{i}.png")
    Image.fromarray(rng.integers(0, 255, (45, 60, 3), dtype=np.uint8), mode="RGB").save(images / "color.jpg")
    Image.fromarray((rng.integers(0, 65535, (40, 40))).astype(np.uint16)).save(images / "deep.png")
    return images


def _needs(images: Path, variant: str = "train") -> ImageNeeds:
    keys = sorted(p.relative_to(images).as_posix() for p in images.rglob("*") if p.is_file())
    return ImageNeeds(images, ImageTransform(32, variant), {key: [f"study-{key}"] for key in keys})


def test_cached_arrays_are_the_decoded_ones_and_a_fresh_store_is_reused(tmp_path: Path) -> None:
    images = _folder(tmp_path)
    for variant in ("train", "eval"):
        needs = _needs(images, variant)
        log = io.StringIO()
        cache, problems = ensure_image_cache(needs, workers=1, stream=log)
        assert problems == [] and "8/8 images" in log.getvalue()
        for key in needs.studies:
            expected = decode_resized(images / key, image_size=32, train=variant == "train")
            assert np.array_equal(cache(key), expected) and cache(key).dtype == np.uint8
        assert cache("p1/0.png").shape[2] == 1 and cache("color.jpg").shape[2] == 3  # gray stays one channel
        again = io.StringIO()
        ensure_image_cache(needs, workers=1, stream=again)
        assert again.getvalue() == ""  # fresh: opened, not rebuilt


def test_a_stale_cache_is_detected_and_only_the_changed_images_are_decoded_again(tmp_path: Path) -> None:
    images = _folder(tmp_path)
    needs = _needs(images)
    before, _ = ensure_image_cache(needs, workers=1, stream=io.StringIO())
    old = np.array(before("p1/2.png"))
    stat = os.stat(images / "p1/3.png")
    os.utime(images / "p1/3.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: same content
    quiet = io.StringIO()
    touched, _ = ensure_image_cache(needs, workers=1, stream=quiet)
    assert quiet.getvalue() == "" and touched.store.sources["p1/3.png"][1] == stat.st_mtime_ns + 10**9
    Image.fromarray(np.full((52, 40), 200, dtype=np.uint8), mode="L").save(images / "p1/2.png")
    stat = os.stat(images / "p1/2.png")
    os.utime(images / "p1/2.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later edit, surely
    log = io.StringIO()
    after, _ = ensure_image_cache(needs, workers=1, stream=log)
    assert "is stale: 1 images changed since it was built (p1/2.png)" in log.getvalue()
    assert "1/1 images" in log.getvalue()  # only that one decoded again
    assert np.array_equal(after("p1/2.png"), decode_resized(images / "p1/2.png", image_size=32, train=True))
    assert not np.array_equal(after("p1/2.png"), old)
    assert np.array_equal(after("p1/3.png"), before("p1/3.png"))


def test_a_damaged_store_is_never_used(tmp_path: Path) -> None:
    images = _folder(tmp_path)
    needs = _needs(images)
    ensure_image_cache(needs, workers=1, stream=io.StringIO())
    data = needs.folder() / "data.bin"
    size = data.stat().st_size
    with open(data, "r+b") as handle:  # a disk that filled up, a copy cut short
        handle.truncate(size - 100)
    log = io.StringIO()
    cache, _ = ensure_image_cache(needs, workers=1, stream=log)
    assert f"data.bin has {size - 100} bytes, expected {size}" in log.getvalue() and "rebuilding" in log.getvalue()
    assert all(np.array_equal(cache(k), decode_resized(images / k, image_size=32, train=True)) for k in needs.studies)


def test_bad_images_get_one_line_each_with_their_study_and_the_rest_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    images = _folder(root / "iu_xray", count=30)
    good = (images / "color.jpg").read_bytes()
    (images / "cut.jpg").write_bytes(good[: len(good) // 2])  # truncated
    (images / "junk.png").write_bytes(b"\x89PNG but not really")
    rows = [{"id": f"s{i}", "report": "the lungs are clear .", "image_path": [f"p1/{i}.png"]} for i in range(30)]
    rows += [{"id": "cut-study", "report": "no effusion .", "image_path": ["cut.jpg", "p1/0.png"]}]
    rows += [{"id": "junk-study", "report": "no effusion .", "image_path": ["junk.png"]}]
    annotation = {"train": rows, "val": [rows[0] | {"id": "v"}], "test": [rows[1] | {"id": "t"}]}
    (root / "iu_xray" / "annotation.json").write_text(json.dumps(annotation))
    monkeypatch.setattr(image_cache, "POOL_THRESHOLD", 1)
    monkeypatch.setattr(image_cache, "CHUNK", 4)  # several chunks, so both workers write
    with pytest.raises(DataError) as err:
        prebuild_image_caches([RunSpec("ls", "iu_xray", 0)], root)
    lines = str(err.value).splitlines()
    assert any("cut.jpg (study cut-study)" in line and "truncated" in line for line in lines)
    assert any("junk.png (study junk-study)" in line for line in lines)
    assert len(lines) == 3 and "a re-run decodes only these" in lines[-1]
    (train,) = [n for n in image_cache.image_needs(
        image_cache.DATASETS.get("iu")().load(root), num_views=2, image_size=64, augment=True, decode="full"
    ) if n.transform.variant == "train"]  # fmt: skip
    cache, problems = ensure_image_cache(train, workers=1, stream=io.StringIO())
    assert len(problems) == 2 and len(cache.store) == 32  # built by the pool, bad files remembered
    for key in train.studies.keys() - {"cut.jpg", "junk.png"}:  # every worker wrote its chunk in its place
        assert np.array_equal(cache(key), decode_resized(images / key, image_size=64, train=True))
    with pytest.raises(DataError, match=r"cut\.jpg cannot be read"):
        cache("cut.jpg")  # a run reading it fails as it would without the cache


def test_a_full_disk_is_one_line_before_anything_is_written_and_leftovers_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = _folder(tmp_path)
    needs = _needs(images)
    killed = needs.folder().with_name(f".{needs.folder().name}.999.dead.tmp")
    killed.mkdir(parents=True)  # what a build killed midway leaves

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(MtlbenchError, match=r"cannot reserve .* GB for the cache at .*: No space left on device; free"):
        ensure_image_cache(needs, workers=1, stream=io.StringIO())
    assert not killed.exists() and not list(needs.folder().parent.glob(".*tmp"))
