"""The preprocessed image cache: each image decoded and resized once per dataset and transform.

Decoding a full-resolution chest X-ray (MIMIC-CXR-JPG: about 2,500 x 3,000 pixels) costs tens of
milliseconds, every epoch, in every run. The cache keeps the deterministic stage of the image
path (:func:`mtlbench.data.images.decode_resized`: decode, 8 bits, resize) as uint8 arrays in
a memory-mapped :mod:`~mtlbench.runner.array_store` under ``$MTLBENCH_CACHE/images``, one store
per (image folder, image size, variant, decode mode), shared by every run of every grid that
needs it. The random stage (crop and flip) still runs on the cached arrays each epoch, so
training is R2Gen's, and the tensors are bit for bit those of the uncached path: the cache is
not part of a run's identity (``--no-image-cache`` turns it off).

What is stored serves both transforms: the train variant (shorter side resized to
``round(image_size * 256 / 224)``, aspect kept, for the random crops) for the images of the
training split, the eval variant (``image_size`` square) for validation and test, and for the
training split too when a run trains without augmentation.

A store is built in parallel (a process pool: first every header, to lay out the file, then
the pixels), with a progress display, verified and renamed into place. An image that changed
since (size or mtime) makes the store stale: that is reported and only the changed images are
decoded again. An unreadable image (corrupt, truncated) is reported in one line naming the
file and its study; the rest of the cache is kept.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from mtlbench.data import DATASETS
from mtlbench.data.cache import cache_root
from mtlbench.data.images import decode_resized, resized_shape
from mtlbench.data.schema import Annotation
from mtlbench.errors import DataError
from mtlbench.runner.array_store import (
    ArrayStore,
    Stat,
    StoreWriter,
    build_lock,
    fresh_store,
    open_store,
    source_stat,
    write_slot,
)
from mtlbench.runner.build_progress import BuildProgress
from mtlbench.runner.spec import RunSpec

PIPELINE_VERSION = "1"
"""Bumped whenever ``decode_resized`` changes its output, so that no store of the old pixels is reused."""

POOL_THRESHOLD = 256
"""Fewer images than this are decoded in the calling process: a pool's start-up would cost more."""

CHUNK = 32


@dataclass(frozen=True)
class ImageTransform:
    """The deterministic stage a store holds: resolution, variant ("train" or "eval"), JPEG decode mode."""

    image_size: int
    variant: str
    decode: str = "full"

    @property
    def train(self) -> bool:
        return self.variant == "train"


@dataclass(frozen=True)
class ImageNeeds:
    """The images a run reads through one transform: relative path -> the ids of the studies using it."""

    image_dir: Path
    transform: ImageTransform
    studies: dict[str, list[str]]

    def folder(self) -> Path:
        """Where this store lives: named by a hash of the image folder, the transform and the pipeline version."""
        identity = {
            "kind": "images",
            "pipeline": PIPELINE_VERSION,
            "image_dir": str(Path(self.image_dir).resolve()),
            **asdict(self.transform),
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        t = self.transform
        return cache_root() / "images" / f"{t.variant}{t.image_size}-{t.decode}-{digest}"


def image_needs(
    annotation: Annotation, *, num_views: int, image_size: int, augment: bool, decode: str
) -> list[ImageNeeds]:
    """The stores a run on ``annotation`` reads: the training split's images in the train variant
    (eval when not augmenting), validation and test images in the eval variant."""
    by_variant: dict[str, dict[str, list[str]]] = {}
    for split, examples in annotation.splits.items():
        variant = "train" if split == "train" and augment else "eval"
        studies = by_variant.setdefault(variant, {})
        for example in examples:
            for path in example.image_paths[:num_views]:
                studies.setdefault(Path(path).as_posix(), []).append(example.id)
    image_dir = Path(annotation.image_dir)
    return [
        ImageNeeds(image_dir, ImageTransform(image_size, variant, decode), studies)
        for variant, studies in sorted(by_variant.items())
    ]


class ImageCache:
    """The pixel source a dataset reads: the cached array of an image, or (for an image the store
    could not read) a fresh decode, which raises the same one-line error as the uncached path."""

    def __init__(self, store: ArrayStore, image_dir: Path, transform: ImageTransform) -> None:
        self.store = store
        self.image_dir = Path(image_dir)
        self.transform = transform

    def __call__(self, key: str) -> np.ndarray:
        if key in self.store:
            return self.store[key]
        t = self.transform
        return decode_resized(self.image_dir / key, image_size=t.image_size, train=t.train, decode=t.decode)


class MemoryPixels:
    """An in-memory stand-in for the cache: each image decoded on first use and kept, with the
    time decoding took (``mtlbench run --plan`` times cached training without building a store)."""

    def __init__(self, image_dir: Path, transform: ImageTransform) -> None:
        self.image_dir = Path(image_dir)
        self.transform = transform
        self.arrays: dict[str, np.ndarray] = {}
        self.decode_seconds = 0.0

    def __call__(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            t = self.transform
            started = time.perf_counter()
            self.arrays[key] = decode_resized(
                self.image_dir / key, image_size=t.image_size, train=t.train, decode=t.decode
            )
            self.decode_seconds += time.perf_counter() - started
        return self.arrays[key]


def missing_images(needs: ImageNeeds) -> int:
    """How many of the needed images the store lacks or holds stale (0: ready to use)."""
    store, _ = open_store(needs.folder())
    if store is None:
        return len(needs.studies)
    fresh = store.freshness({key: source_stat(needs.image_dir / key) for key in needs.studies})
    return len(fresh.missing) + len(fresh.changed)


def ensure_image_cache(
    needs: ImageNeeds, *, workers: int | None = None, stream: TextIO | None = None, label: str = ""
) -> tuple[ImageCache, list[str]]:
    """The fresh store for ``needs``, built or brought up to date first when it is missing, stale
    or damaged; returns it with one line per needed image that could not be read."""
    stream = stream or sys.stderr
    folder = needs.folder()
    name = label or f"image cache ({needs.transform.variant} {needs.transform.image_size}px)"
    stats = {key: source_stat(needs.image_dir / key) for key in needs.studies}
    store = fresh_store(folder, stats)
    if store is not None:
        return ImageCache(store, needs.image_dir, needs.transform), _problems(store, needs, name)
    with build_lock(folder):
        store, why = open_store(folder)
        if store is None or not store.freshness(stats).fresh:
            if why:
                print(f"{name} at {folder} cannot be used: {why}; rebuilding it", file=stream)
            store = _build(folder, needs, stats, reuse=store, workers=workers, stream=stream, name=name)
    return ImageCache(store, needs.image_dir, needs.transform), _problems(store, needs, name)


def _problems(store: ArrayStore, needs: ImageNeeds, name: str) -> list[str]:
    """One line per needed image the store could not read: the file, its studies, the reason."""
    return [
        f"{name}: cannot read {needs.image_dir / key} (study {', '.join(needs.studies[key][:3])}): {reason}"
        for key, reason in sorted(store.failures.items())
        if key in needs.studies
    ]


def _build(
    folder: Path,
    needs: ImageNeeds,
    stats: dict[str, Stat | None],
    *,
    reuse: ArrayStore | None,
    workers: int | None,
    stream: TextIO,
    name: str,
) -> ArrayStore:
    """A new store holding the needed images and the still-fresh ones of ``reuse``.

    An entry of ``reuse`` is kept when its source has the same size and mtime, or else the same
    content (a file touched or copied with new times is re-hashed, not decoded again).
    """
    keys = dict(stats)
    if reuse is not None:  # keep what the old store holds for other runs, where still fresh
        for key in reuse.sources:
            if key not in keys:
                keys[key] = source_stat(needs.image_dir / key)
    order = sorted(keys)
    old = reuse.sources if reuse is not None else {}
    kept = {key for key in order if key in old and tuple(old[key]) == keys[key]}
    candidates = [key for key in order if key not in kept]
    if workers is None:
        from mtlbench.runner.executors.base import usable_cores  # here: that module imports run_one, which imports this

        workers = usable_cores()
    pool = _pool(workers) if workers > 1 and len(candidates) >= POOL_THRESHOLD else None
    try:
        digests = {key: reuse.digests.get(key) for key in kept} if reuse is not None else {}
        touched = [key for key in candidates if reuse is not None and reuse.digests.get(key) and keys[key]]
        for key, digest in zip(touched, _map(pool, _digests, [str(needs.image_dir / k) for k in touched])):
            if digest == reuse.digests[key]:  # type: ignore[union-attr]
                kept.add(key)
                digests[key] = digest
        changed = [key for key in candidates if key in old and key not in kept]
        if changed:
            shown = ", ".join(changed[:3]) + (", ..." if len(changed) > 3 else "")
            print(
                f"{name} is stale: {len(changed)} images changed since it was built ({shown}); decoding them again",
                file=stream,
            )
        failures = {key: reason for key, reason in (reuse.failures if reuse else {}).items() if key in kept}
        todo = [key for key in order if key not in kept]
        t = needs.transform
        paths = [str(needs.image_dir / key) for key in todo]
        shapes: dict[str, tuple[int, ...] | None] = {}
        for key in kept:
            shapes[key] = None if key in failures else tuple(reuse[key].shape)  # type: ignore[index]
        probe = _map(pool, _probe, [(p, t.image_size, t.train) for p in paths])
        for key, (shape, error) in zip(todo, probe):
            shapes[key] = shape
            if error:
                failures[key] = error
        writer = StoreWriter(folder, np.uint8, [shapes[key] for key in order])
        try:
            data = writer.open_data()
            for row, key in enumerate(order):
                if key in kept and key not in failures:
                    writer.write(data, row, reuse[key])  # type: ignore[index]
            del data
            rows = {key: row for row, key in enumerate(order)}
            jobs = [
                (str(writer.data_path), rows[key], writer.slot(rows[key]), str(needs.image_dir / key), t)
                for key in todo
                if shapes[key] is not None
            ]
            progress = BuildProgress(name, len(jobs), stream=stream) if jobs else None
            for (_, row, _, _, _), (crc, digest, error) in zip(jobs, _map(pool, _decode, jobs, progress)):
                digests[order[row]] = digest
                if error is None:
                    writer.crc[row] = crc
                else:
                    failures[order[row]] = error
                    writer.drop(row)
            if progress is not None:
                progress.close()
            meta = {"kind": "images", "pipeline": PIPELINE_VERSION, "image_dir": str(needs.image_dir), **asdict(t)}
            entries = [(key, keys[key], digests.get(key)) for key in order]
            return writer.commit(entries, failures=failures, meta=meta)
        except BaseException:
            writer.abandon()
            raise
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _pool(workers: int) -> ProcessPoolExecutor:
    """Forked where the platform can (the workers only decode with PIL and numpy, so nothing of
    torch's threads is needed in them, and a fork starts in milliseconds where a spawn imports
    everything again); spawned elsewhere."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


def _map(
    pool: ProcessPoolExecutor | None,
    function: Callable[[Sequence[Any]], list[Any]],
    items: Sequence[Any],
    progress: BuildProgress | None = None,
) -> Iterable[Any]:
    """``function`` over chunks of ``items``, results in order (in the pool when there is one)."""
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    for chunk in pool.map(function, chunks) if pool is not None else map(function, chunks):
        if progress is not None:
            progress.advance(len(chunk))
        yield from chunk


def _probe(items: Sequence[tuple[str, int, bool]]) -> list[tuple[tuple[int, ...] | None, str | None]]:
    out: list[tuple[tuple[int, ...] | None, str | None]] = []
    for path, image_size, train in items:
        try:
            out.append((resized_shape(Path(path), image_size=image_size, train=train), None))
        except DataError as err:
            out.append((None, _reason(err, path)))
    return out


def _digest(content: bytes) -> str:
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def _digests(paths: Sequence[str]) -> list[str | None]:
    out: list[str | None] = []
    for path in paths:
        try:
            out.append(_digest(Path(path).read_bytes()))
        except OSError:
            out.append(None)
    return out


def _decode(
    jobs: Sequence[tuple[str, int, Any, str, ImageTransform]],
) -> list[tuple[int | None, str | None, str | None]]:
    """Decode a chunk of images straight into their places in the data file being built; each
    with the checksum of its array and the content digest of its file."""
    data = np.memmap(jobs[0][0], dtype=np.uint8, mode="r+")
    out: list[tuple[int | None, str | None, str | None]] = []
    for _, _, slot, path, t in jobs:
        digest = None
        try:
            content = Path(path).read_bytes()
            digest = _digest(content)
            array = decode_resized(Path(path), image_size=t.image_size, train=t.train, decode=t.decode, content=content)
            out.append((write_slot(data, slot, array), digest, None))
        except FileNotFoundError:
            out.append((None, None, "does not exist"))
        except DataError as err:
            out.append((None, digest, _reason(err, path)))
        except (OSError, ValueError) as err:  # unreadable, or changed between its header and its pixels
            out.append((None, digest, str(err)))
    data.flush()
    return out


def _reason(err: DataError, path: str) -> str:
    return str(err).replace(f"image {path} ", "").replace("cannot be read: ", "")


def prebuild_image_caches(
    specs: Sequence[RunSpec],
    data_root: Path | None,
    *,
    annotations: Mapping[tuple[str, tuple], Annotation] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Build (or bring up to date) every image cache the runs of ``specs`` read, before the first
    run starts, with a process per core. Unreadable images stop the grid here, one line each
    naming the file and its study; the cache of every other image is kept. ``annotations``: the
    datasets already loaded, by (dataset, data options), so that none is read twice."""
    loaded: dict[tuple[str, tuple], tuple[Annotation, int]] = {}
    folders: set[Path] = set()
    problems: list[str] = []
    for spec in specs:
        key = (spec.dataset, spec.data_options)
        if key not in loaded:
            source = DATASETS.get(spec.dataset)(**dict(spec.data_options))
            annotation = annotations[key] if annotations and key in annotations else source.load(data_root)
            loaded[key] = (annotation, source.views_per_study(annotation))
        annotation, num_views = loaded[key]
        train = spec.train
        for needs in image_needs(
            annotation,
            num_views=num_views,
            image_size=train.image_size,
            augment=train.augment,
            decode=train.image_decode,
        ):
            if needs.folder() not in folders:
                folders.add(needs.folder())
                problems += ensure_image_cache(needs, stream=stream, label=f"{spec.dataset} {_label(needs)}")[1]
    if problems:
        raise DataError(
            "\n".join(problems)
            + "\nfix or remove these images (the cache keeps every other image: a re-run decodes only these)"
        )


def _label(needs: ImageNeeds) -> str:
    t = needs.transform
    return f"image cache ({t.variant} {t.image_size}px, {t.decode} decode)"
