"""``transformer``: visual extractor -> Transformer encoder-decoder, i.e. R2Gen without its memory.

Reference: the "Transformer" baseline ("BASE") of Chen et al., "Generating Radiology Reports via
Memory-driven Transformer", EMNLP 2020 (official code: github.com/zhjohnchan/R2Gen), whose
decoder layers use plain layer norms instead of R2Gen's memory-conditioned ones.

Differences from the official code: see :mod:`mtlbench.backbones.r2gen` (same core, minus the
relational memory and MCLN).
"""

from __future__ import annotations

from mtlbench.backbones.base import BACKBONES
from mtlbench.backbones.encoder_decoder import EncoderDecoderBackbone


@BACKBONES.register("transformer", aliases=("cnn-transformer", "base"))
class CNNTransformer(EncoderDecoderBackbone):
    """CNN + Transformer (R2Gen's "BASE", Chen et al., EMNLP 2020): R2Gen without its memory.

    See :mod:`mtlbench.backbones.r2gen` for what differs from the official code.
    """

    relational_memory = False
    cross_modal_memory = False
