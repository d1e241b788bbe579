"""Batched beam search with trigram blocking, shared by every backbone.

A backbone supplies ``step(tokens, order) -> log-probabilities`` for the next token of each
hypothesis: ``tokens`` [N, t] are the hypotheses so far (starting with BOS = 0) and ``order``
[N] says which row of the previous call's state each hypothesis continues, so a backbone with
recurrent state (R2Gen's memory) can re-index it. Beam 1 is greedy decoding. Trigram blocking
(as R2Gen's ``block_trigrams``) forbids a token that would repeat a trigram already in the
hypothesis, which stops the "no effusion . no effusion ." loops small decoders fall into.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Step = Callable[[Tensor, Tensor], Tensor]


def _block_trigrams(tokens: Tensor, logprobs: Tensor) -> Tensor:
    """-inf for every next token that would complete a trigram the hypothesis already holds."""
    if tokens.shape[1] < 3:
        return logprobs
    rows = tokens.tolist()
    for n, row in enumerate(rows):
        prefix = tuple(row[-2:])
        banned = {row[i + 2] for i in range(len(row) - 2) if (row[i], row[i + 1]) == prefix}
        if banned:
            logprobs[n, list(banned)] = -torch.inf
    return logprobs


def beam_search(
    step: Step, batch_size: int, *, beam_size: int, max_len: int, device: torch.device, block_trigrams: bool = True
) -> Tensor:
    """[batch_size, <= max_len + 1] best hypothesis per example, BOS first, 0-padded after EOS."""
    n = batch_size * beam_size
    tokens = torch.zeros(n, 1, dtype=torch.long, device=device)
    scores = torch.zeros(batch_size, beam_size, device=device)
    scores[:, 1:] = -torch.inf  # all beams start identical: keep one until the first expansion
    finished = torch.zeros(n, dtype=torch.bool, device=device)
    order = torch.arange(n, device=device)
    for _ in range(max_len):
        logprobs = step(tokens, order).float()
        vocab = logprobs.shape[-1]
        if block_trigrams:
            logprobs = _block_trigrams(tokens, logprobs)
        # a finished hypothesis only extends with PAD (0), at no cost
        logprobs[finished] = -torch.inf
        logprobs[finished, 0] = 0.0
        total = (scores.view(n, 1) + logprobs).view(batch_size, beam_size * vocab)
        best, index = total.topk(beam_size, dim=1)
        beam = torch.div(index, vocab, rounding_mode="floor")
        word = index % vocab
        order = (beam + torch.arange(batch_size, device=device)[:, None] * beam_size).view(n)
        tokens = torch.cat([tokens[order], word.view(n, 1)], dim=1)
        finished = finished[order] | (word.view(n) == 0)
        scores = best
        if bool(finished.all()):
            break
    best_beam = scores.argmax(dim=1) + torch.arange(batch_size, device=device) * beam_size
    return tokens[best_beam]
