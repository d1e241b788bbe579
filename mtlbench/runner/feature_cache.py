"""Frozen-extractor features, computed once per dataset and extractor, read by every run.

With ``--backbone-opt freeze_extractor=true`` the visual extractor (R2Gen's ResNet-101) never
changes, yet every run of every method and seed would recompute its features for every image,
every epoch: most of a paper-size step on a CPU, and much of it on a GPU. With
``--backbone-opt feature_cache=true`` as well, each image's features are computed once, stored
like the image cache (a memory-mapped float32 :mod:`~mtlbench.runner.array_store` under
``$MTLBENCH_CACHE/features``) and fed to the model in place of the image.

The price is augmentation: a feature is that of ONE view of the image, the eval transform
(``Resize((image_size, image_size))``), so no random crop or flip is possible. Runs must say
so with ``--no-augment`` (``train.augment = false``); a run refuses the option otherwise. The
result equals the uncached frozen run without augmentation (``freeze_extractor=true``,
``--no-augment``, no cache) to floating-point tolerance: the extractor sees the same pixels
in the same (eval) mode, only in other batches (tested).

A store is keyed by a digest of the extractor's weights (and buffers), so the runs of one
pretrained extractor share it across methods and seeds; an extractor left at its random
initialisation differs per seed and gets a store per seed. Stale and damaged stores are
detected as for the image cache (the sources are the image files).
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

import numpy as np
import torch
from torch import nn

from mtlbench.data.cache import cache_root
from mtlbench.data.images import Pixels, augment, decode_resized
from mtlbench.errors import DataError, MtlbenchError
from mtlbench.runner.array_store import (
    ArrayStore,
    Stat,
    StoreWriter,
    build_lock,
    fresh_store,
    open_store,
    source_stat,
)
from mtlbench.runner.build_progress import BuildProgress
from mtlbench.runner.image_cache import PIPELINE_VERSION, ImageNeeds
from mtlbench.runner.spec import RunSpec

BATCH = 32
"""Images per extractor forward pass while building."""


def check_feature_cache(spec: RunSpec) -> None:
    """Refuse ``feature_cache`` without ``freeze_extractor`` or with augmentation, in one line."""
    options = dict(spec.backbone_options)
    if not options.get("feature_cache"):
        return
    if not options.get("freeze_extractor"):
        raise MtlbenchError(
            "backbone option feature_cache needs freeze_extractor=true: only a frozen extractor's features "
            "can be cached"
        )
    if spec.train.augment:
        raise MtlbenchError(
            "backbone option feature_cache computes each image's features once, from the un-augmented image: "
            "add --no-augment (train.augment = false) to accept training without random crops and flips"
        )


def extractor_digest(extractor: nn.Module) -> str:
    """A hash of every weight and buffer of ``extractor`` (names, dtypes, shapes and values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(extractor.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class FeatureCache:
    """Features [C, h, w] (float32) of an image by its relative path; an image that could not be
    read while building raises the one-line error it raised then."""

    def __init__(self, store: ArrayStore) -> None:
        self.store = store

    def __call__(self, key: str) -> np.ndarray:
        if key in self.store:
            return self.store[key]
        reason = self.store.failures.get(key, "not in the feature cache")
        raise DataError(f"image {key}: {reason}")


class MemoryFeatures:
    """An in-memory stand-in for the feature cache: each image's features computed on first use
    (one image per pass) and kept, with the time it took (for ``mtlbench run --plan``)."""

    def __init__(self, extractor: nn.Module, pixels: Pixels, image_size: int) -> None:
        self.extractor = extractor
        self.pixels = pixels
        self.image_size = image_size
        self.arrays: dict[str, np.ndarray] = {}
        self.seconds = 0.0

    def __call__(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            started = time.perf_counter()
            image = augment(self.pixels(key), image_size=self.image_size, train=False, generator=None)
            was_training = self.extractor.training
            self.extractor.eval()
            with torch.no_grad():
                device = next(self.extractor.parameters()).device
                self.arrays[key] = self.extractor(image[None].to(device)).float().cpu().numpy()[0]
            self.extractor.train(was_training)
            self.seconds += time.perf_counter() - started
        return self.arrays[key]


def ensure_feature_cache(
    extractor: nn.Module,
    needs: ImageNeeds,
    *,
    pixels: Pixels | None = None,
    device: torch.device | str = "cpu",
    stream: TextIO | None = None,
) -> FeatureCache:
    """The fresh feature store of ``extractor`` for the images of ``needs`` (eval variant), built
    first where missing, stale or damaged. ``pixels`` (the image cache) saves the decoding."""
    if needs.transform.variant != "eval":
        raise ValueError("features are computed from the eval transform's images")
    stream = stream or sys.stderr
    weights = extractor_digest(extractor)
    identity = {"kind": "features", "pipeline": PIPELINE_VERSION, "images": needs.folder().name, "extractor": weights}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_root() / "features" / f"{needs.transform.image_size}px-{digest}"
    stats = {key: source_stat(needs.image_dir / key) for key in needs.studies}
    name = f"feature cache ({needs.transform.image_size}px, extractor {weights[:8]})"
    store = fresh_store(folder, stats)
    if store is not None:
        return FeatureCache(store)
    with build_lock(folder):
        store, why = open_store(folder)
        fresh = store.freshness(stats) if store is not None else None
        if store is not None and fresh is not None and fresh.fresh:
            return FeatureCache(store)
        if why:
            print(f"{name} at {folder} cannot be used: {why}; rebuilding it", file=stream)
        elif fresh is not None and fresh.changed:
            print(f"{name} is stale: {len(fresh.changed)} images changed since it was built; rebuilding", file=stream)
        store = _build(folder, extractor, needs, stats, pixels, torch.device(device), stream, name, identity)
    return FeatureCache(store)


def _build(
    folder: Path,
    extractor: nn.Module,
    needs: ImageNeeds,
    stats: dict[str, Stat | None],
    pixels: Pixels | None,
    device: torch.device,
    stream: TextIO,
    name: str,
    identity: dict[str, str],
) -> ArrayStore:
    t = needs.transform
    model = copy.deepcopy(extractor).to(device).eval()
    with torch.no_grad():
        shape = tuple(model(torch.zeros(1, 3, t.image_size, t.image_size, device=device)).shape[1:])
    order = sorted(stats)
    writer = StoreWriter(folder, np.float32, [shape] * len(order))
    failures: dict[str, str] = {}
    progress = BuildProgress(name, len(order), stream=stream)

    def load(key: str) -> np.ndarray:
        if pixels is not None:
            return pixels(key)
        return decode_resized(needs.image_dir / key, image_size=t.image_size, train=False, decode=t.decode)

    try:
        data = writer.open_data()
        for start in range(0, len(order), BATCH):
            rows, views = [], []
            for row in range(start, min(start + BATCH, len(order))):
                key = order[row]
                try:
                    array = load(key)
                except DataError as err:
                    failures[key] = str(err)
                    writer.drop(row)
                    continue
                rows.append(row)
                views.append(augment(array, image_size=t.image_size, train=False, generator=None))
            if views:
                with torch.no_grad():
                    features = model(torch.stack(views).to(device)).float().cpu().numpy()
                for row, feature in zip(rows, features):
                    writer.write(data, row, feature)
            progress.advance(min(start + BATCH, len(order)) - start)
        progress.close()
        del data
        meta = {**identity, **asdict(t), "image_dir": str(needs.image_dir), "shape": list(shape)}
        return writer.commit([(key, stats[key], None) for key in order], failures=failures, meta=meta)
    except BaseException:
        writer.abandon()
        raise
