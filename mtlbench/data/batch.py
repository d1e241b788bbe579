"""The tensors a backbone sees for one mini-batch."""

from __future__ import annotations

from dataclasses import dataclass, replace

from torch import Tensor


@dataclass(frozen=True)
class Batch:
    """A collated mini-batch. Token id 0 is BOS = EOS = PAD, as in R2Gen."""

    ids: tuple[str, ...]
    images: Tensor
    """[B, V, C, H, W] float, normalised; V views per study (1 for MIMIC-CXR, 2 for IU X-Ray)."""
    tokens: Tensor
    """[B, T] long: 0, w_1 .. w_n, 0, then padding 0."""
    mask: Tensor
    """[B, T] float: 1 over BOS, the words and EOS; 0 over padding."""
    labels: Tensor
    """[B, 14] float 0/1 targets for the classification task, after the uncertain policy."""

    def to(self, device: object) -> Batch:
        return replace(
            self,
            images=self.images.to(device),
            tokens=self.tokens.to(device),
            mask=self.mask.to(device),
            labels=self.labels.to(device),
        )

    def __len__(self) -> int:
        return len(self.ids)
