"""Torch views of an Annotation: studies as tensors, collated into Batches.

A study yields as many images as it has (up to the dataset's ``num_views``); :func:`collate`
pads the studies of a batch to the largest view count among them with zero slots and marks the
real ones in ``Batch.view_mask``, which the backbone uses to leave the padding out of attention
and pooling. So a 1-image IU study is encoded from its one image, never from a repeated copy.

Reproducibility with loader workers: the shuffled order comes from :class:`EpochSampler`, which
runs in the training process and reseeds itself from (seed, epoch); each sample's augmentation
draws from a generator seeded by (seed, epoch, index), and the epoch travels WITH the index the
sampler yields, so persistent worker processes (which never see ``set_epoch`` calls made in the
parent) augment exactly as the single-process loader does. The batches, their order and their
pixels are therefore the same for any ``workers`` count.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mtlbench.data.batch import Batch
from mtlbench.data.images import DECODES, Pixels, load_study_images
from mtlbench.data.schema import CHEXPERT_LABELS, Example, binarize
from mtlbench.data.tokenizer import Tokenizer
from mtlbench.errors import DataError

Item = tuple[str, torch.Tensor, list[int], torch.Tensor]


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The generator of one sample's augmentation: a function of (seed, epoch, index) only."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


class StudyDataset(Dataset):
    """One split of studies: images (at most ``num_views`` per study), token ids and 0/1 label targets.

    Random augmentation draws from a generator seeded by (seed, epoch, index), so a run is
    repeatable whatever the loader's worker layout. Items are indexed by ``(epoch, index)``
    (what :class:`EpochSampler` yields) or by a plain index, which uses :meth:`set_epoch`'s epoch.

    ``augment=False`` gives the training split the eval transform (no random crop or flip);
    ``decode`` is the JPEG decode mode (:data:`mtlbench.data.images.DECODES`); ``pixels``, when
    given, supplies each image's decoded and resized array (the image cache) by its path
    relative to ``image_dir``; ``features``, when given, supplies a precomputed tensor per image
    path instead (the frozen-extractor feature cache), which then takes the images' place.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        image_dir: Path,
        tokenizer: Tokenizer,
        *,
        num_views: int,
        image_size: int,
        train: bool,
        uncertain: str,
        seed: int = 0,
        augment: bool = True,
        decode: str = "full",
        pixels: Pixels | None = None,
        features: Pixels | None = None,
    ) -> None:
        if num_views < 1:
            raise DataError(f"num_views must be at least 1; got {num_views}")
        if decode not in DECODES:
            raise DataError(f"image decode must be one of {', '.join(DECODES)}; got {decode!r}")
        self.examples = list(examples)
        self.image_dir = Path(image_dir)
        self.tokenizer = tokenizer
        self.num_views = num_views
        self.image_size = image_size
        self.train = train
        self.augment = augment
        self.decode = decode
        self.pixels = pixels
        self.features = features
        self.seed = seed
        self.epoch = 0
        self.tokens = [tokenizer.encode(ex.report) for ex in self.examples]
        self.labels = torch.tensor(
            [
                [binarize(code, uncertain) for code in (ex.labels or (float("nan"),) * len(CHEXPERT_LABELS))]
                for ex in self.examples
            ],
            dtype=torch.float32,
        )

    @property
    def random(self) -> bool:
        """Whether items draw random numbers (training split with augmentation)."""
        return self.train and self.augment and self.features is None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.examples)

    def image_paths(self, index: int) -> list[str]:
        """The relative paths of the images study ``index`` uses (the first ``num_views``)."""
        return list(self.examples[index].image_paths[: self.num_views])

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        example = self.examples[index]
        if self.features is not None:
            relative = self.image_paths(index)
            if not relative:
                raise DataError(f"study {example.id} has no image_path entries")
            views = torch.stack([torch.from_numpy(np.array(self.features(p))) for p in relative])
            return example.id, views, self.tokens[index], self.labels[index]
        generator = sample_generator(self.seed, epoch, index) if self.random else None
        cached = self.pixels is not None
        images = load_study_images(
            [Path(p) if cached else self.image_dir / p for p in example.image_paths],
            max_views=self.num_views,
            image_size=self.image_size,
            train=self.train,
            augmented=self.augment,
            generator=generator,
            decode=self.decode,
            pixels=self._cached_pixels if cached else None,
        )
        return example.id, images, self.tokens[index], self.labels[index]

    def _cached_pixels(self, relative: Path) -> np.ndarray:
        assert self.pixels is not None
        return self.pixels(relative.as_posix())

    def reference_texts(self) -> list[str]:
        """References as R2Gen evaluates them: the decoded ground-truth ids (cleaned, truncated, <unk>)."""
        return [self.tokenizer.decode(ids[1:]) for ids in self.tokens]


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)``: shuffled as ``DataLoader(shuffle=True)`` with a generator seeded by
    ``seed * 100_003 + epoch`` shuffles (one 64-bit draw for the loader's base seed, then
    ``randperm``), so the order of earlier mtlbench versions is kept; in order when not shuffled.

    It runs in the training process, so :meth:`set_epoch` reaches it even with persistent workers.
    :meth:`skip_next` makes its next pass start further in (a run resumed mid-epoch).
    """

    def __init__(self, size: int, *, shuffle: bool, seed: int) -> None:
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.skip = 0

    def skip_next(self, count: int) -> None:
        """Leave out the first ``count`` indices of the next pass only (the same order otherwise)."""
        self.skip = count

    def set_epoch(self, epoch: int, seed: int | None = None) -> None:
        self.epoch = epoch
        if seed is not None:
            self.seed = seed

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        skip, self.skip = self.skip, 0
        if not self.shuffle:
            return iter([(self.epoch, i) for i in range(self.size)][skip:])
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        torch.empty((), dtype=torch.int64).random_(generator=generator)  # the draw DataLoader makes first
        return iter([(self.epoch, i) for i in torch.randperm(self.size, generator=generator).tolist()][skip:])


def batches_from(batches: Iterable, start: int) -> Iterable:
    """An epoch's batches from batch ``start`` on: what a run resumed mid-epoch trains on next.

    A loader of :func:`make_loader` skips the first ``start`` batches' indices in its sampler, so
    they are never loaded and the batches after them are the very ones an uninterrupted epoch
    sees (batches are consecutive runs of ``batch_size`` indices; augmentation depends on
    (seed, epoch, index) only). Any other iterable is advanced past them.
    """
    if start <= 0:
        return batches
    sampler = getattr(batches, "sampler", None)
    batch_size = getattr(batches, "batch_size", None)
    if isinstance(sampler, EpochSampler) and batch_size:
        sampler.skip_next(start * batch_size)
        return batches
    return itertools.islice(batches, start, None)


def collate(items: Sequence[Item]) -> Batch:
    """Pad each study's views with zero slots to the batch's largest view count (``view_mask``
    marks the real ones); pad token ids with 0 to the longest report of the batch."""
    ids, views, token_lists, labels = zip(*items)
    most = max(v.shape[0] for v in views)
    images = views[0].new_zeros(len(items), most, *views[0].shape[1:])
    view_mask = torch.zeros(len(items), most, dtype=torch.bool)
    for row, study in enumerate(views):
        images[row, : study.shape[0]] = study
        view_mask[row, : study.shape[0]] = True
    length = max(len(t) for t in token_lists)
    tokens = torch.zeros(len(items), length, dtype=torch.long)
    mask = torch.zeros(len(items), length, dtype=torch.float32)
    for row, ids_row in enumerate(token_lists):
        tokens[row, : len(ids_row)] = torch.tensor(ids_row, dtype=torch.long)
        mask[row, : len(ids_row)] = 1.0
    return Batch(
        ids=tuple(ids), images=images, tokens=tokens, mask=mask, labels=torch.stack(labels), view_mask=view_mask
    )


def make_loader(
    dataset: StudyDataset,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A loader whose order is fixed by ``seed`` and the epoch (``loader.sampler.set_epoch``).

    ``workers`` > 0 decodes and augments in that many persistent worker processes (the batches
    are the same as with 0, see the module docstring); ``pin_memory`` puts batches in page-locked
    memory so that their copy to a GPU can overlap computation (``Batch.to`` is non-blocking).
    """
    if workers < 0:
        raise DataError(f"loader workers must be at least 0; got {workers}")
    sampler = EpochSampler(len(dataset), shuffle=shuffle, seed=seed)
    extra = {"persistent_workers": True, "prefetch_factor": 4} if workers else {}
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collate,
        num_workers=workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),  # its draws (workers' base seed) never touch the global RNG
        **extra,
    )
