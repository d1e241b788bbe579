"""``r2gen``: R2Gen, the memory-driven Transformer (Chen et al., EMNLP 2020).

Reference: Chen, Song, Chang, Wan, "Generating Radiology Reports via Memory-driven Transformer",
EMNLP 2020; official code github.com/zhjohnchan/R2Gen. A relational memory (3 slots, 8 heads,
d 512 at paper size) reads each generated word; its state drives the gain and bias of every
layer norm of the decoder (memory-driven conditional layer norm, MCLN).

Differences from the official code:
* the visual extractor is the from-scratch CNN at ``tiny`` size; at ``paper`` size ResNet-101
  as in R2Gen, but its ImageNet weights come only from a local file the user gives
  (``extractor_weights``), never downloaded: without it the extractor starts random;
* the word embeddings are computed once per step and read by both the memory and the decoder
  (the official code embeds twice, so the two see different dropout masks in training);
* the tiny size adds learned patch/view position embeddings (see ``Size.patch_positions``);
* beam search is this package's batched one (log-probability sum, trigram blocking as a hard
  ban) rather than the official per-image beam search with its soft trigram penalty;
* one optimiser and learning rate for all parameters (R2Gen: 5e-5 extractor, 1e-4 the rest,
  step decay), as set by the training configuration.
"""

from __future__ import annotations

from mtlbench.backbones.base import BACKBONES
from mtlbench.backbones.encoder_decoder import EncoderDecoderBackbone


@BACKBONES.register("r2gen")
class R2Gen(EncoderDecoderBackbone):
    """R2Gen (Chen et al., EMNLP 2020): relational memory + memory-driven conditional layer norm decoder.

    See the module docstring for what differs from the official code.
    """

    relational_memory = True
    cross_modal_memory = False
