"""Study images as R2Gen feeds them, scaled to a chosen resolution.

R2Gen's transforms (torchvision) are: train = Resize(256), RandomCrop(224), RandomHorizontalFlip,
ToTensor, Normalize(ImageNet); eval = Resize((224, 224)), ToTensor, Normalize. torchvision cannot
be installed next to every torch build, so the same steps are written here with PIL and torch,
scaled to ``image_size`` (Resize to round(image_size * 256 / 224) on the shorter side, then the
crop). Randomness comes only from the given generator, so augmentation is reproducible.

The path is split in two stages so that the expensive one can be cached:

* :func:`decode_resized` (deterministic): open, decode, scale to 8 bits, resize (the train
  variant keeps the aspect ratio with the shorter side at ``round(image_size * 256 / 224)``;
  the eval variant is ``image_size`` square) -> a uint8 array [H, W, C]. Grayscale images stay
  one channel (C = 1): PIL resizes each band of an RGB image exactly as it resizes the gray one
  (tested), so expanding to RGB afterwards gives the same pixels at a third of the cost and size.
* :func:`augment` (random): the train variant's random crop and flip, then the ImageNet
  normalisation, on that array. The image cache (``mtlbench.runner.image_cache``) stores the
  first stage's arrays; the second runs on them every epoch, so cached training is R2Gen's.

Decoding: ``decode="full"`` decodes every pixel (R2Gen's path). ``decode="reduced"`` asks the
JPEG decoder for the smallest DCT scale (1/2, 1/4, 1/8) that still leaves the shorter side at
least the train resize (PIL's ``Image.draft``), then resizes as usual to the same output size;
several times faster on MIMIC-CXR's ~2,500 x 3,000 files, but the pixels differ slightly, so
it is a recorded training setting (``TrainConfig.image_decode``) that enters the run id. Files
other than JPEG decode in full either way.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mtlbench.errors import DataError

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

DECODES: tuple[str, ...] = ("full", "reduced")
"""How JPEGs are decoded: every pixel, or at a reduced DCT scale that the target size allows."""

VARIANTS: tuple[str, ...] = ("train", "eval")
"""The deterministic stage's two outputs: shorter side resized (for crops), or square."""

Pixels = Callable[[str], np.ndarray]
"""Relative image path -> its decoded, resized uint8 array [H, W, C] (C = 1 or 3)."""


def train_resize(image_size: int) -> int:
    """The shorter side before the random crop: R2Gen's 256 for 224, scaled to ``image_size``."""
    return round(image_size * 256 / 224)


_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "F")
"""Single-band modes wider than 8 bits (DICOM conversions): scaled to 8-bit gray."""


def channels(mode: str) -> int:
    """Channels of the decoded array for a PIL ``mode``: 1 for gray (8-bit or wider), else 3 (RGB)."""
    return 1 if mode == "L" or mode in _WIDE_MODES else 3


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit and integer images (DICOM conversions) scaled to 8 bits: PIL's convert would clip them."""
    if image.mode not in _WIDE_MODES:
        return image
    array = np.asarray(image, dtype=np.float64)
    top = 255.0 if array.max() <= 255 else 65535.0
    return Image.fromarray((np.clip(array / top, 0, 1) * 255).round().astype(np.uint8), mode="L")


def output_size(source: tuple[int, int], *, image_size: int, train: bool) -> tuple[int, int]:
    """(width, height) of the resized image for a source of ``source`` (width, height) pixels.

    Computed from the source's own size, so the reduced decode gives the same geometry as the full one.
    """
    if not train:
        return image_size, image_size
    short = train_resize(image_size)
    w, h = source
    scale = short / min(w, h)
    return max(short, round(w * scale)), max(short, round(h * scale))


def _unreadable(path: Path, err: BaseException) -> DataError:
    if isinstance(err, FileNotFoundError):
        return DataError(f"image {path} does not exist; run `mtlbench data check` on the dataset")
    return DataError(f"image {path} cannot be read: {err}")


def resized_shape(path: Path, *, image_size: int, train: bool) -> tuple[int, int, int]:
    """(H, W, C) of :func:`decode_resized`'s output for ``path``, from its header alone (cheap)."""
    try:
        with Image.open(path) as image:
            width, height = output_size(image.size, image_size=image_size, train=train)
            return height, width, channels(image.mode)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise _unreadable(path, err) from None


def decode_resized(
    path: Path, *, image_size: int, train: bool, decode: str = "full", content: bytes | None = None
) -> np.ndarray:
    """The deterministic stage: ``path`` decoded and resized, uint8 [H, W, C] with C = 1 (gray) or 3.

    ``content``: the file's bytes, when the caller has read them already (the image cache hashes them).
    """
    if decode not in DECODES:
        raise DataError(f"image decode must be one of {', '.join(DECODES)}; got {decode!r}")
    try:
        with Image.open(io.BytesIO(content) if content is not None else path) as image:
            size = image.size
            if decode == "reduced" and image.format == "JPEG":
                target = max(train_resize(image_size), image_size)
                image.draft(None, (target, target))  # the decoder's DCT scaling: shorter side stays >= target
            image = _eight_bit(image)
            image = image if image.mode == "L" else image.convert("RGB")
            image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise _unreadable(path, err) from None
    resized = image.resize(output_size(size, image_size=image_size, train=train), Image.BILINEAR)
    array = np.asarray(resized, dtype=np.uint8)
    return array[:, :, None] if array.ndim == 2 else array


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    """[3, H, W] float, ImageNet-normalised, from uint8 [H, W, C]; one channel is repeated as RGB does."""
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32) / 255.0).permute(2, 0, 1)
    if tensor.shape[0] == 1:
        tensor = tensor.expand(3, -1, -1)
    return (tensor - IMAGENET_MEAN) / IMAGENET_STD


def augment(array: np.ndarray, *, image_size: int, train: bool, generator: torch.Generator | None) -> torch.Tensor:
    """The random stage on :func:`decode_resized`'s output: crop and flip (train), then normalise.

    The draws (top, left, flip) are those R2Gen's RandomCrop and RandomHorizontalFlip make, in
    that order, from ``generator``.
    """
    if not train:
        return _to_tensor(array)
    h, w = array.shape[:2]
    top = int(torch.randint(0, h - image_size + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - image_size + 1, (1,), generator=generator))
    array = array[top : top + image_size, left : left + image_size]
    if float(torch.rand(1, generator=generator)) < 0.5:
        array = array[:, ::-1]
    return _to_tensor(array)


def load_study_images(
    paths: Sequence[Path],
    *,
    max_views: int,
    image_size: int,
    train: bool,
    generator: torch.Generator | None,
    augmented: bool = True,
    decode: str = "full",
    pixels: Callable[[Path], np.ndarray] | None = None,
) -> torch.Tensor:
    """[n, 3, H, W]: the first ``n = min(len(paths), max_views)`` images of a study, in the
    annotation's order (its ``image_path`` is trusted; no file name is assumed).

    ``train`` picks the split's behaviour; ``augmented=False`` gives a training split the eval
    transform (no crop, no flip). ``pixels``, when given, supplies the deterministic stage
    (the image cache); otherwise each file is decoded here.

    A study with fewer images than ``max_views`` is NOT filled up here: :func:`collate` pads it
    with empty slots that the backbone masks out. (R2Gen's IU loader instead always reads two
    images; repeating one would weigh it twice in the fused features.)
    """
    if not paths:
        raise DataError("a study has no image_path entries")
    if max_views < 1:
        raise DataError(f"max_views must be at least 1; got {max_views}")
    random_crop = train and augmented
    views = []
    for path in paths[:max_views]:
        if pixels is not None:
            array = pixels(Path(path))
        else:
            array = decode_resized(Path(path), image_size=image_size, train=random_crop, decode=decode)
        views.append(augment(array, image_size=image_size, train=random_crop, generator=generator))
    return torch.stack(views)
