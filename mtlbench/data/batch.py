"""The tensors a backbone sees for one mini-batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from mtlbench.errors import DataError


@dataclass(frozen=True)
class Batch:
    """A collated mini-batch. Token id 0 is BOS = EOS = PAD, as in R2Gen.

    Studies may have different numbers of images (IU X-Ray: 1 to 5): ``images`` holds V slots per
    study and ``view_mask`` says which slots are real images; the others are zero padding that
    the backbone masks out (never a repeated image, which would weigh that view twice).
    """

    ids: tuple[str, ...]
    images: Tensor
    """[B, V, C, H, W] float, normalised; V view slots per study, padded slots all zero."""
    tokens: Tensor
    """[B, T] long: 0, w_1 .. w_n, 0, then padding 0."""
    mask: Tensor
    """[B, T] float: 1 over BOS, the words and EOS; 0 over padding."""
    labels: Tensor
    """[B, 14] float 0/1 targets for the classification task, after the uncertain policy."""
    view_mask: Tensor | None = None
    """[B, V] bool, True where the slot holds a real image; None (the default) means every slot
    is real, and is replaced by an all-True mask on construction."""

    def __post_init__(self) -> None:
        if self.images.dim() != 5:
            raise DataError(f"batch images of shape {tuple(self.images.shape)}: expected [batch, views, 3, H, W]")
        if self.view_mask is None:
            full = torch.ones(self.images.shape[:2], dtype=torch.bool, device=self.images.device)
            object.__setattr__(self, "view_mask", full)
            return
        check_view_mask(self.view_mask, self.images)

    def to(self, device: object) -> Batch:
        """The batch on ``device``; from pinned memory (a loader with ``pin_memory``) the copies
        are asynchronous and overlap the GPU's work (CUDA orders them before their first use)."""
        return self._map(lambda t: t.to(device, non_blocking=True))

    def pin_memory(self) -> Batch:
        """The batch in page-locked memory: DataLoader's ``pin_memory`` calls this on custom types."""
        return self._map(lambda t: t.pin_memory())

    def _map(self, move: Callable[[Tensor], Tensor]) -> Batch:
        return replace(
            self,
            images=move(self.images),
            tokens=move(self.tokens),
            mask=move(self.mask),
            labels=move(self.labels),
            view_mask=move(self.view_mask) if self.view_mask is not None else None,
        )

    def __len__(self) -> int:
        return len(self.ids)


def check_view_mask(view_mask: Tensor, images: Tensor) -> None:
    """Raise unless ``view_mask`` is a [B, V] bool mask of ``images`` [B, V, ...] with a real view per study.

    The content check (every study keeps a real view, else its attention would have nothing to
    attend to) runs only on CPU tensors, so moving a batch to a GPU never waits on the device.
    """
    if view_mask.dtype != torch.bool or tuple(view_mask.shape) != tuple(images.shape[:2]):
        raise DataError(
            f"view_mask must be a bool tensor of shape {tuple(images.shape[:2])} (batch, views); "
            f"got {view_mask.dtype} {tuple(view_mask.shape)}"
        )
    if view_mask.device.type == "cpu" and view_mask.numel() and not bool(view_mask.any(dim=1).all()):
        empty = (~view_mask.any(dim=1)).nonzero().flatten().tolist()
        raise DataError(f"studies at batch rows {empty[:3]} have no real view; every study needs at least one image")
