"""``cmn``: R2GenCMN, the cross-modal memory network (Chen et al., ACL 2021).

Reference: Chen, Shen, Song, Wan, "Cross-modal Memory Networks for Radiology Report Generation",
ACL 2021; official code github.com/zhjohnchan/R2GenCMN. One learned memory matrix (2048 x 512 at
paper size) is queried, per attention head, by every visual patch before the encoder and by every
word embedding before the decoder; each query keeps its top-32 slots and adds the softmax-weighted
answer to itself. The memory and its projections are used by the visual path, so they belong to
the shared trunk; the report decoder reads them as well (through ``respond``).

Differences from the official code: as listed for :mod:`mtlbench.backbones.r2gen` (extractor
weights from a local file, tiny-size patch positions, batched beam search with hard trigram
blocking, one learning rate), plus the gather of the selected memory values (same numbers,
less memory; see :class:`~mtlbench.backbones.memory.CrossModalMemory`).

Note for representation-level MTL methods (MGDA-UB, RLAR): the report loss reaches the shared
memory both through the encoded visual representation and directly through the text-side
querying, so gradients taken at the representation see only the first path.
"""

from __future__ import annotations

from mtlbench.backbones.base import BACKBONES
from mtlbench.backbones.encoder_decoder import EncoderDecoderBackbone


@BACKBONES.register("cmn", aliases=("r2gencmn", "r2gen-cmn"))
class R2GenCMN(EncoderDecoderBackbone):
    """R2GenCMN (Chen et al., ACL 2021): visual patches and words both query a shared cross-modal memory.

    See the module docstring for what differs from the official code.
    """

    relational_memory = False
    cross_modal_memory = True
    visual_sinusoids = True
