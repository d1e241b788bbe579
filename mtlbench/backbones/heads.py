"""Task heads on the shared visual trunk: the report decoder, 14-label classification, image-report alignment.

Each head owns its parameters (the backbone's ``task_parameters``); the trunk's output, the
encoded visual patch sequence, is the one tensor they all read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbench.backbones.layers import Decoder, Encoder, LayerNorm, TokenEmbedding, xavier_init
from mtlbench.backbones.memory import ConditionalLayerNorm, RelationalMemory
from mtlbench.backbones.sizes import Size

Respond = Callable[[Tensor], Tensor]
"""A shared memory's answer added to the word embeddings (R2GenCMN's text-side querying)."""


class ReportHead(nn.Module):
    """Word embeddings -> (relational memory) -> Transformer decoder over the visual patches -> logits.

    With ``relational``, R2Gen's relational memory reads the embedded words and conditions every
    decoder layer norm (MCLN); otherwise the norms are plain (R2Gen without memory). ``respond``
    lets a memory that the trunk owns (R2GenCMN's) add its answer to the word embeddings.
    """

    def __init__(self, vocab_size: int, size: Size, *, relational: bool) -> None:
        super().__init__()
        d = size.d_model
        self.embed = TokenEmbedding(vocab_size, d, size.dropout)
        self.memory = RelationalMemory(size.rm_slots, d, size.rm_heads) if relational else None

        def make_norm() -> nn.Module:
            return ConditionalLayerNorm(d, size.rm_slots) if relational else LayerNorm(d)

        self.decoder = Decoder(d, size.heads, size.d_ff, size.dropout, size.layers, make_norm)
        self.logit = nn.Linear(d, vocab_size)
        for part in (self.embed, self.memory, self.decoder):  # R2Gen's make_model init (not its logit)
            if part is not None:
                xavier_init(part)

    def _words(self, tokens: Tensor, respond: Respond | None, offset: int = 0) -> Tensor:
        x = self.embed(tokens, offset)
        return x + respond(x) if respond is not None else x

    def forward(
        self, visual: Tensor, tokens: Tensor, respond: Respond | None = None, visual_mask: Tensor | None = None
    ) -> Tensor:
        """[B, T, vocab] next-token logits for every prefix of ``tokens`` [B, T]; the decoder attends
        only to the patches of ``visual`` [B, Tk, d] that ``visual_mask`` [B, Tk] marks real."""
        x = self._words(tokens, respond)
        condition = self.memory(x)[0] if self.memory is not None else None
        return self.logit(self.decoder(x, visual, condition, visual_mask))

    def next_logprobs(
        self,
        visual: Tensor,
        tokens: Tensor,
        order: Tensor,
        cache: dict[str, Any],
        respond: Respond | None = None,
        visual_mask: Tensor | None = None,
    ) -> Tensor:
        """[N, vocab] log-probabilities of the token after ``tokens`` [N, t], for beam search.

        Incremental: ``cache`` keeps, per hypothesis, the decoder layers' keys/values and the
        relational memory's state, re-ordered by ``order`` (which row of the previous call each
        hypothesis continues), so each call processes only the newest token. Same numbers as
        ``forward`` on the whole prefix (tested). ``visual`` and ``visual_mask`` are per hypothesis
        and never re-ordered: a hypothesis only continues one of the same study.
        """
        t = tokens.shape[1]
        x = self._words(tokens[:, -1:], respond, offset=t - 1)
        if t == 1:
            cache.clear()
            cache["visual_kv"] = self.decoder.visual_keys(visual)
            empty = x.new_zeros(
                x.shape[0], self.decoder.layers[0].self_attn.heads, 0, self.decoder.layers[0].self_attn.d_k
            )
            cache["past"] = [(empty, empty) for _ in self.decoder.layers]
            if self.memory is not None:
                cache["memory"] = self.memory.initial(x.shape[0], x)
        else:
            cache["past"] = [(k[order], v[order]) for k, v in cache["past"]]
            if self.memory is not None:
                cache["memory"] = cache["memory"][order]
        condition = None
        if self.memory is not None:
            condition, cache["memory"] = self.memory(x, cache["memory"])
        h, cache["past"] = self.decoder.step(x, cache["visual_kv"], cache["past"], condition, visual_mask)
        return F.log_softmax(self.logit(h[:, -1]).float(), dim=-1)


class AlignmentHead(nn.Module):
    """Image-report contrastive alignment (CLIP-style InfoNCE with a learnable temperature).

    The report side is its own small Transformer encoder over the report tokens (mean-pooled
    over real tokens); the image side is the pooled visual representation. Both are projected
    to ``size.align_dim`` and L2-normalised.
    """

    def __init__(self, vocab_size: int, size: Size) -> None:
        super().__init__()
        d = size.d_model
        self.embed = TokenEmbedding(vocab_size, d, size.dropout)
        self.encoder = Encoder(d, size.heads, size.d_ff, size.dropout, size.align_layers)
        xavier_init(self.embed)
        xavier_init(self.encoder)
        self.text_projection = nn.Linear(d, size.align_dim)
        self.image_projection = nn.Linear(d, size.align_dim)
        # CLIP's initial temperature 0.07, learned as log(1 / temperature), capped at 100
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def embed_reports(self, tokens: Tensor, mask: Tensor) -> Tensor:
        """[B, align_dim] unit vectors of the reports; padding (mask 0) is neither attended nor pooled."""
        keep = mask > 0
        x = self.encoder(self.embed(tokens), keep[:, None, None, :])
        pooled = (x * keep.unsqueeze(-1)).sum(1) / keep.sum(1, keepdim=True).clamp_min(1)
        return F.normalize(self.text_projection(pooled), dim=-1)

    def embed_images(self, pooled: Tensor) -> Tensor:
        return F.normalize(self.image_projection(pooled), dim=-1)

    def forward(self, pooled: Tensor, tokens: Tensor, mask: Tensor) -> Tensor:
        """Symmetric InfoNCE of the batch's image-report pairs."""
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        logits = scale * self.embed_images(pooled) @ self.embed_reports(tokens, mask).T
        return info_nce(logits, same_report(tokens, mask))


def same_report(tokens: Tensor, mask: Tensor) -> Tensor:
    """[B, B] True where two studies have the identical report (padding ignored)."""
    ids = tokens * (mask > 0)
    length = (mask > 0).sum(1)
    return (ids.unsqueeze(1) == ids.unsqueeze(0)).all(-1) & (length.unsqueeze(1) == length.unsqueeze(0))


def info_nce(logits: Tensor, positives: Tensor) -> Tensor:
    """Symmetric InfoNCE on [B, B] image-to-report logits; row i's positives are ``positives[i]``.

    Studies with word-for-word identical reports (common: normal studies) are positives of each
    other rather than false negatives; their target mass is shared equally.
    """
    target = positives.float() / positives.float().sum(1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target.T))
