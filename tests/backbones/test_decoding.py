"""Beam search: beam 1 is greedy, trigrams never repeat, wider beams find likelier reports."""

from __future__ import annotations

import itertools

import torch

from mtlbench.backbones.decoding import beam_search


def _toy_step(vocab: int = 7, seed: int = 0):
    """A fixed 'language model': next-token log-probs depend on the last token only."""
    table = torch.log_softmax(torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(seed)) * 3, dim=-1)

    def step(tokens: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        return table[tokens[:, -1]].clone()

    return step, table


def _greedy(table: torch.Tensor, max_len: int) -> list[int]:
    out = [0]
    for _ in range(max_len):
        nxt = int(table[out[-1]].argmax())
        out.append(nxt)
        if nxt == 0:
            break
    return out


def _score(table: torch.Tensor, row: list[int]) -> float:
    total = 0.0
    for a, b in itertools.pairwise(row):
        total += float(table[a, b])
        if b == 0:
            break
    return total


def test_beam_one_without_blocking_is_greedy() -> None:
    for seed in range(5):
        step, table = _toy_step(seed=seed)
        got = beam_search(step, 1, beam_size=1, max_len=12, device=torch.device("cpu"), block_trigrams=False)
        expected = _greedy(table, 12)
        assert got[0, : len(expected)].tolist() == expected


def test_no_trigram_repeats_with_blocking() -> None:
    for seed in range(5):
        step, _ = _toy_step(seed=seed)
        rows = beam_search(step, 3, beam_size=3, max_len=30, device=torch.device("cpu"))
        for row in rows.tolist():
            row = row[: row.index(0, 1) + 1] if 0 in row[1:] else row
            trigrams = [tuple(row[i : i + 3]) for i in range(len(row) - 2)]
            assert len(trigrams) == len(set(trigrams))


def test_wider_beams_never_find_a_less_likely_report() -> None:
    for seed in range(5):
        step, table = _toy_step(seed=seed)
        one = beam_search(step, 1, beam_size=1, max_len=10, device=torch.device("cpu"), block_trigrams=False)
        four = beam_search(step, 1, beam_size=4, max_len=10, device=torch.device("cpu"), block_trigrams=False)
        assert _score(table, four[0].tolist()) >= _score(table, one[0].tolist()) - 1e-6
