"""The memories that distinguish R2Gen and R2GenCMN from a plain encoder-decoder.

* :class:`RelationalMemory` and :class:`ConditionalLayerNorm` (Chen et al., EMNLP 2020, R2Gen):
  a few memory slots updated once per generated token by attention over [slots; token] with an
  LSTM-like input/forget gate; the slots then shift and scale every decoder layer norm
  ("memory-driven conditional layer norm", MCLN).
* :class:`CrossModalMemory` (Chen et al., ACL 2021, R2GenCMN): one learned matrix of memory
  vectors shared by both modalities; each visual patch and each word embedding queries it per
  head, keeps its top-k best-matching slots, and adds the softmax-weighted response to itself.

Both follow the official code's equations (zhjohnchan/R2Gen ``modules/encoder_decoder.py``,
zhjohnchan/R2GenCMN ``modules/base_cmn.py``); differences are noted where they occur.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbench.backbones.layers import MultiHeadAttention, normalize


class RelationalMemory(nn.Module):
    """R2Gen's relational memory: ``slots`` vectors of size ``d_model``, one update per token.

    The state before the first token is the identity (slot i is e_i, zero-padded to d_model).
    The official code asks for ``rm_d_model == d_model`` implicitly (its gate reads the word
    embedding with a d_model-wide layer); here that is an explicit check.
    """

    def __init__(self, slots: int, d_model: int, heads: int) -> None:
        super().__init__()
        self.slots = slots
        self.d_model = d_model
        self.attn = MultiHeadAttention(d_model, heads, dropout=0.1)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Linear(d_model, d_model), nn.ReLU())
        self.W = nn.Linear(d_model, 2 * d_model)
        self.U = nn.Linear(d_model, 2 * d_model)

    def initial(self, batch_size: int, like: Tensor) -> Tensor:
        """[B, slots, d_model]: the identity state R2Gen starts from."""
        eye = torch.eye(self.slots, self.d_model, dtype=like.dtype, device=like.device)
        return eye.unsqueeze(0).expand(batch_size, -1, -1)

    def step(self, word: Tensor, memory: Tensor) -> Tensor:
        """The state after reading ``word`` [B, d_model] in state ``memory`` [B, slots, d_model]."""
        word = word.unsqueeze(1)
        return self._step(self.attn.project_kv(word, word), self.W(word), memory)

    def _step(self, word_kv: tuple[Tensor, Tensor], word_gates: Tensor, memory: Tensor) -> Tensor:
        # attention of the slots over [slots; word]: the word's keys/values and gate inputs are
        # projected for the whole sequence at once (same numbers, far fewer small matmuls)
        k, v = self.attn.project_kv(memory, memory)
        k, v = torch.cat([k, word_kv[0]], dim=2), torch.cat([v, word_kv[1]], dim=2)
        nxt = memory + self.attn.attend(memory, k, v)
        nxt = nxt + self.mlp(nxt)
        input_gate, forget_gate = (word_gates + self.U(torch.tanh(memory))).chunk(2, dim=-1)
        return torch.sigmoid(input_gate) * torch.tanh(nxt) + torch.sigmoid(forget_gate) * memory

    def forward(self, words: Tensor, memory: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """States after each of ``words`` [B, T, d]: ([B, T, slots * d], the last [B, slots, d]).

        State t depends on words 0..t only, so the decoder stays causal; ``memory`` continues a
        sequence (incremental decoding) instead of starting from the identity.
        """
        memory = self.initial(words.shape[0], words) if memory is None else memory
        keys, values = self.attn.project_kv(words, words)
        gates = self.W(words)
        states = []
        for t in range(words.shape[1]):
            memory = self._step((keys[:, :, t : t + 1], values[:, :, t : t + 1]), gates[:, t : t + 1], memory)
            states.append(memory.flatten(1))
        return torch.stack(states, dim=1), memory


class ConditionalLayerNorm(nn.Module):
    """MCLN: LayerNorm whose gain and bias are shifted by MLPs of the relational memory's state.

    Each MLP is Linear(slots * d, d) -> ReLU -> Linear(d, d), Xavier weights and biases 0.1,
    as the official code (which spells the gain MLP's second layer with rm_d_model; equal here).
    """

    def __init__(self, d_model: int, slots: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(d_model))
        self.beta = nn.Parameter(torch.zeros(d_model))
        self.eps = eps
        self.mlp_gamma = nn.Sequential(nn.Linear(slots * d_model, d_model), nn.ReLU(), nn.Linear(d_model, d_model))
        self.mlp_beta = nn.Sequential(nn.Linear(slots * d_model, d_model), nn.ReLU(), nn.Linear(d_model, d_model))
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.constant_(module.bias, 0.1)

    def forward(self, x: Tensor, condition: Tensor | None) -> Tensor:
        """``x`` [B, T, d] normalised with gain/bias conditioned on ``condition`` [B, T, slots * d]."""
        if condition is None:
            raise ValueError("ConditionalLayerNorm needs the relational memory's states")
        gamma = self.gamma + self.mlp_gamma(condition)
        beta = self.beta + self.mlp_beta(condition)
        return gamma * normalize(x, self.eps) + beta


class CrossModalMemory(nn.Module):
    """R2GenCMN's cross-modal memory: a ``size`` x ``d_model`` matrix queried top-``topk`` per head.

    ``respond(x)`` is the memory's answer to each row of ``x`` [B, T, d] (queries projected per
    head, keys and values are projections of the memory vectors; softmax over the ``topk`` best
    scores only). The same module answers visual patches (before the encoder) and word
    embeddings (before the decoder), which is what aligns the two modalities. The answer for one
    row depends on that row alone, so it keeps the decoder causal.

    Difference from the official code: values of the selected slots are gathered directly
    ([B, h, T, k, d_k]) instead of through a [B, h, T, size, d_k] expanded view; same numbers.
    """

    def __init__(self, size: int, d_model: int, heads: int, topk: int, dropout: float = 0.1) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not divisible by {heads} heads")
        if not 0 < topk <= size:
            raise ValueError(f"topk must be in 1..{size}; got {topk}")
        self.heads, self.d_k, self.topk = heads, d_model // heads, topk
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        for layer in (self.query, self.key, self.value, self.out):
            nn.init.xavier_uniform_(layer.weight)
        self.matrix = nn.Parameter(torch.empty(size, d_model))
        nn.init.normal_(self.matrix, 0.0, 1.0 / d_model)

    def respond(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q = self.query(x).view(b, t, self.heads, self.d_k).transpose(1, 2)  # [B, h, T, d_k]
        k = self.key(self.matrix).view(-1, self.heads, self.d_k).transpose(0, 1)  # [h, S, d_k]
        v = self.value(self.matrix).view(-1, self.heads, self.d_k).transpose(0, 1)  # [h, S, d_k]
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d_k)  # [B, h, T, S]
        top_scores, index = scores.topk(self.topk, dim=-1)  # [B, h, T, k]
        weights = self.dropout(F.softmax(top_scores, dim=-1))
        # gather the chosen value rows: v[h, index[b, h, t, j]] for every (b, h, t, j)
        head = torch.arange(self.heads, device=x.device).view(1, self.heads, 1, 1)
        chosen = v[head, index]  # [B, h, T, k, d_k]
        answer = torch.matmul(weights.unsqueeze(-2), chosen).squeeze(-2)  # [B, h, T, d_k]
        return self.out(answer.transpose(1, 2).reshape(b, t, d))
