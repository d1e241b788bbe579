"""Size presets: ``tiny`` trains on 2 CPU cores in minutes; ``paper`` is the published configuration.

``paper`` follows the official training scripts of R2Gen (Chen et al., EMNLP 2020) and
R2GenCMN (Chen et al., ACL 2021): ResNet-101 patch grid (2048 channels), d_model 512, d_ff 512,
8 heads, 3 encoder and 3 decoder layers, dropout 0.1, dropout 0.5 after the visual projection
(``drop_prob_lm``), relational memory of 3 slots x 512 with 8 heads, cross-modal memory of
2048 x 512 queried top-32.
"""

from __future__ import annotations

from dataclasses import dataclass

from mtlbench.errors import MtlbenchError


@dataclass(frozen=True)
class Size:
    """Width and depth of every part of a backbone."""

    d_model: int
    heads: int
    layers: int
    """Encoder layers = decoder layers (R2Gen's ``num_layers``)."""
    d_ff: int
    dropout: float
    visual_dropout: float
    """Dropout after the visual projection (R2Gen's ``drop_prob_lm``)."""
    extractor: str
    """Default visual extractor: "cnn" (from scratch) or "resnet101"."""
    cnn_channels: tuple[int, ...]
    patch_positions: bool
    """Learned per-view, per-patch embeddings added to the visual features. Not in R2Gen (its
    encoder sees the patches without positions); the tiny CPU models need them to tell left from right."""
    rm_slots: int
    rm_heads: int
    cmm_size: int
    cmm_topk: int
    align_dim: int
    """Width of the image-report contrastive space."""
    align_layers: int
    """Transformer layers of the report encoder of the ``align`` task."""


SIZES: dict[str, Size] = {
    "tiny": Size(
        d_model=128,
        heads=4,
        layers=1,
        d_ff=256,
        dropout=0.1,
        visual_dropout=0.1,
        extractor="cnn",
        cnn_channels=(16, 32, 64, 128),
        patch_positions=True,
        rm_slots=3,
        rm_heads=4,
        cmm_size=512,
        cmm_topk=16,
        align_dim=64,
        align_layers=1,
    ),
    "paper": Size(
        d_model=512,
        heads=8,
        layers=3,
        d_ff=512,
        dropout=0.1,
        visual_dropout=0.5,
        extractor="resnet101",
        cnn_channels=(64, 128, 256, 512),
        patch_positions=False,
        rm_slots=3,
        rm_heads=8,
        cmm_size=2048,
        cmm_topk=32,
        align_dim=256,
        align_layers=1,
    ),
}


def get_size(name: str) -> Size:
    try:
        return SIZES[name]
    except KeyError:
        raise MtlbenchError(f"unknown backbone size {name!r}; choose one of {', '.join(SIZES)}") from None
