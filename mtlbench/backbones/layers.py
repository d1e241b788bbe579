"""Transformer building blocks as R2Gen and R2GenCMN write them (the Annotated-Transformer style).

Pre-norm sublayers (``x + dropout(f(norm(x)))``), a final norm after each stack, R2Gen's
LayerNorm (divides by the unbiased std plus eps, not by sqrt(var + eps)), word embeddings
scaled by sqrt(d_model) plus sinusoidal positions. Every norm of the decoder takes an optional
``condition`` so R2Gen's memory-driven conditional layer norm plugs in without a second decoder.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def normalize(x: Tensor, eps: float) -> Tensor:
    """R2Gen's normalisation: (x - mean) / (std + eps), std unbiased, over the last dimension."""
    return (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + eps)


class LayerNorm(nn.Module):
    """R2Gen's LayerNorm; ignores a condition so it can stand where a conditional norm could."""

    def __init__(self, d_model: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(d_model))
        self.beta = nn.Parameter(torch.zeros(d_model))
        self.eps = eps

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        return self.gamma * normalize(x, self.eps) + self.beta


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention over ``heads`` heads; ``mask`` is boolean, True = may attend."""

    def __init__(self, d_model: int, heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not divisible by {heads} heads")
        self.heads = heads
        self.d_k = d_model // heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def _split(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], -1, self.heads, self.d_k).transpose(1, 2)

    def project_kv(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values split into heads, [B, h, Tk, d_k] each: what a decoding cache keeps."""
        return self._split(self.key(key)), self._split(self.value(value))

    def attend(self, query: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
        """[B, Tq, d] attending to projected keys/values; ``mask`` broadcasts to [B, h, Tq, Tk]."""
        q = self._split(self.query(query))
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(x.transpose(1, 2).reshape(query.shape[0], -1, self.heads * self.d_k))

    def forward(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None) -> Tensor:
        """[B, Tq, d] attending to [B, Tk, d]; ``mask`` broadcasts to [B, 1, Tq, Tk]."""
        return self.attend(query, *self.project_kv(key, value), mask)


class FeedForward(nn.Module):
    """Position-wise w2(dropout(relu(w1 x)))."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.w_1 = nn.Linear(d_model, d_ff)
        self.w_2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.w_2(self.dropout(F.relu(self.w_1(x))))


def sinusoid_table(length: int, d_model: int) -> Tensor:
    """[length, d_model] sine/cosine positions of "Attention is all you need"."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * -(math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)
    return table


class PositionalEncoding(nn.Module):
    """Adds sinusoidal positions, then dropout (R2Gen's target side, R2GenCMN's both sides)."""

    def __init__(self, d_model: int, dropout: float, max_len: int = 1024) -> None:
        super().__init__()
        self.register_buffer("table", sinusoid_table(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """``x`` [B, T, d] holds positions offset .. offset + T - 1."""
        end = offset + x.shape[1]
        if end > self.table.shape[0]:
            raise ValueError(f"sequence of {end} positions exceeds the table of {self.table.shape[0]}")
        return self.dropout(x + self.table[offset:end])


class TokenEmbedding(nn.Module):
    """Word embeddings times sqrt(d_model), plus sinusoidal positions and dropout."""

    def __init__(self, vocab_size: int, d_model: int, dropout: float) -> None:
        super().__init__()
        self.lut = nn.Embedding(vocab_size, d_model)
        self.position = PositionalEncoding(d_model, dropout)
        self.scale = math.sqrt(d_model)

    def forward(self, tokens: Tensor, offset: int = 0) -> Tensor:
        return self.position(self.lut(tokens) * self.scale, offset)


class EncoderLayer(nn.Module):
    """Self-attention and feed-forward, each a pre-norm residual sublayer."""

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, heads, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout)
        self.norms = nn.ModuleList([LayerNorm(d_model), LayerNorm(d_model)])
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        h = self.norms[0](x)
        x = x + self.dropout(self.self_attn(h, h, h, mask))
        return x + self.dropout(self.feed_forward(self.norms[1](x)))


class Encoder(nn.Module):
    """A stack of encoder layers and a final LayerNorm."""

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(d_model, heads, d_ff, dropout) for _ in range(layers)])
        self.norm = LayerNorm(d_model)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class DecoderLayer(nn.Module):
    """Masked self-attention, attention over the visual memory, feed-forward; ``make_norm`` builds
    the three sublayer norms (plain, or R2Gen's memory-conditioned ones)."""

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float, make_norm: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, heads, dropout)
        self.src_attn = MultiHeadAttention(d_model, heads, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout)
        self.norms = nn.ModuleList([make_norm() for _ in range(3)])
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, visual: Tensor, causal: Tensor, condition: Tensor | None, visual_mask: Tensor | None = None
    ) -> Tensor:
        """``visual_mask`` [B, 1, 1, Tk] bool, True over the real visual patches (None: all real)."""
        h = self.norms[0](x, condition)
        x = x + self.dropout(self.self_attn(h, h, h, causal))
        h = self.norms[1](x, condition)
        x = x + self.dropout(self.src_attn(h, visual, visual, visual_mask))
        return x + self.dropout(self.feed_forward(self.norms[2](x, condition)))

    def step(
        self,
        x: Tensor,
        visual_kv: tuple[Tensor, Tensor],
        past: tuple[Tensor, Tensor],
        condition: Tensor | None,
        visual_mask: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One new position ``x`` [N, 1, d] given the keys/values of the earlier ones (``past``):
        the same numbers as ``forward`` on the whole prefix, at the cost of one position."""
        h = self.norms[0](x, condition)
        k, v = self.self_attn.project_kv(h, h)
        k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        x = x + self.dropout(self.self_attn.attend(h, k, v))
        h = self.norms[1](x, condition)
        x = x + self.dropout(self.src_attn.attend(h, *visual_kv, visual_mask))
        return x + self.dropout(self.feed_forward(self.norms[2](x, condition))), (k, v)


class Decoder(nn.Module):
    """A stack of decoder layers and a final plain LayerNorm (as in R2Gen)."""

    def __init__(
        self, d_model: int, heads: int, d_ff: int, dropout: float, layers: int, make_norm: Callable[[], nn.Module]
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList([DecoderLayer(d_model, heads, d_ff, dropout, make_norm) for _ in range(layers)])
        self.norm = LayerNorm(d_model)

    def forward(
        self, x: Tensor, visual: Tensor, condition: Tensor | None = None, visual_mask: Tensor | None = None
    ) -> Tensor:
        """``visual_mask`` [B, Tk] bool, True over real patches: padded views are never attended."""
        causal = causal_mask(x.shape[1], x.device)
        keys = key_mask(visual_mask)
        for layer in self.layers:
            x = layer(x, visual, causal, condition, keys)
        return self.norm(x)

    def visual_keys(self, visual: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Per layer, the projected keys/values of the visual memory (computed once per report)."""
        return [layer.src_attn.project_kv(visual, visual) for layer in self.layers]

    def step(
        self,
        x: Tensor,
        visual_kv: list[tuple[Tensor, Tensor]],
        past: list[tuple[Tensor, Tensor]],
        condition: Tensor | None = None,
        visual_mask: Tensor | None = None,
    ) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """Incremental decoding of one position; returns its output and every layer's grown cache."""
        present = []
        keys = key_mask(visual_mask)
        for layer, kv, layer_past in zip(self.layers, visual_kv, past):
            x, cache = layer.step(x, kv, layer_past, condition, keys)
            present.append(cache)
        return self.norm(x), present


def causal_mask(length: int, device: torch.device) -> Tensor:
    """[length, length] boolean, True where position t may attend (positions <= t)."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def key_mask(keep: Tensor | None) -> Tensor | None:
    """[B, Tk] bool (True = a real key) as an attention mask [B, 1, 1, Tk] over heads and queries."""
    return None if keep is None else keep[:, None, None, :]


def xavier_init(module: nn.Module) -> None:
    """R2Gen's init of its encoder-decoder: Xavier-uniform for every parameter with 2+ dimensions."""
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
