"""Study images as R2Gen feeds them, scaled to a chosen resolution.

R2Gen's transforms (torchvision) are: train = Resize(256), RandomCrop(224), RandomHorizontalFlip,
ToTensor, Normalize(ImageNet); eval = Resize((224, 224)), ToTensor, Normalize. torchvision cannot
be installed next to every torch build, so the same steps are written here with PIL and torch,
scaled to ``image_size`` (Resize to round(image_size * 256 / 224) on the shorter side, then the
crop). Randomness comes only from the given generator, so augmentation is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mtlbench.errors import DataError

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit and integer images (DICOM conversions) scaled to 8 bits: PIL's convert would clip them."""
    if image.mode not in ("I", "I;16", "I;16B", "I;16L", "F"):
        return image
    array = np.asarray(image, dtype=np.float64)
    top = 255.0 if array.max() <= 255 else 65535.0
    return Image.fromarray((np.clip(array / top, 0, 1) * 255).round().astype(np.uint8), mode="L")


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return _eight_bit(image).convert("RGB")
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist; run `mtlbench data check` on the dataset") from None
    except OSError as err:
        raise DataError(f"image {path} cannot be read: {err}") from None


def _to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image, dtype=np.float32) / 255.0
    return (torch.from_numpy(array).permute(2, 0, 1) - IMAGENET_MEAN) / IMAGENET_STD


def transform(image: Image.Image, *, image_size: int, train: bool, generator: torch.Generator | None) -> torch.Tensor:
    """[3, image_size, image_size] normalised tensor of ``image`` (RGB)."""
    if not train:
        return _to_tensor(image.resize((image_size, image_size), Image.BILINEAR))
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
    return _to_tensor(image)


def load_study_images(
    paths: Sequence[Path], *, max_views: int, image_size: int, train: bool, generator: torch.Generator | None
) -> torch.Tensor:
    """[n, 3, H, W]: the first ``n = min(len(paths), max_views)`` images of a study, in the
    annotation's order (its ``image_path`` is trusted; no file name is assumed).

    A study with fewer images than ``max_views`` is NOT filled up here: :func:`collate` pads it
    with empty slots that the backbone masks out. (R2Gen's IU loader instead always reads two
    images; repeating one would weigh it twice in the fused features.)
    """
    if not paths:
        raise DataError("a study has no image_path entries")
    if max_views < 1:
        raise DataError(f"max_views must be at least 1; got {max_views}")
    views = [
        transform(_open(Path(p)), image_size=image_size, train=train, generator=generator) for p in paths[:max_views]
    ]
    return torch.stack(views)
