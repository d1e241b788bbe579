"""Torch views of an Annotation: studies as tensors, collated into Batches.

A study yields as many images as it has (up to the dataset's ``num_views``); :func:`collate`
pads the studies of a batch to the largest view count among them with zero slots and marks the
real ones in ``Batch.view_mask``, which the backbone uses to leave the padding out of attention
and pooling. So a 1-image IU study is encoded from its one image, never from a repeated copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mtlbench.data.batch import Batch
from mtlbench.data.images import load_study_images
from mtlbench.data.schema import CHEXPERT_LABELS, Example, binarize
from mtlbench.data.tokenizer import Tokenizer
from mtlbench.errors import DataError


class StudyDataset(Dataset):
    """One split of studies: images (at most ``num_views`` per study), token ids and 0/1 label targets.

    Random augmentation draws from a generator seeded by (seed, epoch, index), so a run is
    repeatable whatever the loader's worker layout; call :meth:`set_epoch` each epoch.
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
    ) -> None:
        if num_views < 1:
            raise DataError(f"num_views must be at least 1; got {num_views}")
        self.examples = list(examples)
        self.image_dir = Path(image_dir)
        self.tokenizer = tokenizer
        self.num_views = num_views
        self.image_size = image_size
        self.train = train
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

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor, list[int], torch.Tensor]:
        example = self.examples[index]
        generator = None
        if self.train:
            state = np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0]
            generator = torch.Generator().manual_seed(int(state))
        images = load_study_images(
            [self.image_dir / p for p in example.image_paths],
            max_views=self.num_views,
            image_size=self.image_size,
            train=self.train,
            generator=generator,
        )
        return example.id, images, self.tokens[index], self.labels[index]

    def reference_texts(self) -> list[str]:
        """References as R2Gen evaluates them: the decoded ground-truth ids (cleaned, truncated, <unk>)."""
        return [self.tokenizer.decode(ids[1:]) for ids in self.tokens]


def collate(items: Sequence[tuple[str, torch.Tensor, list[int], torch.Tensor]]) -> Batch:
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


def make_loader(dataset: StudyDataset, *, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    """A single-process loader whose shuffling order is fixed by ``seed`` (and the epoch's draw)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=generator)
