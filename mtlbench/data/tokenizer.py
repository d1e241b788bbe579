"""R2Gen's tokenizer: vocabulary from the cleaned train split, id 0 = BOS = EOS = PAD."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from mtlbench.data.cleaning import STYLES, clean_report
from mtlbench.errors import DataError
from mtlbench.results import atomic_write_text
from mtlbench.textfiles import read_json, shown

UNK = "<unk>"


class Tokenizer:
    """Word-level, as R2Gen: tokens seen ``threshold`` times or more in train, plus ``<unk>``,
    sorted, with ids from 1; ``encode`` gives ``[0] + ids + [0]`` cut to ``max_seq_length``
    (R2Gen's dataset truncation, which can drop the final 0)."""

    def __init__(self, tokens: Sequence[str], *, style: str, max_seq_length: int) -> None:
        self.idx2token = {i + 1: t for i, t in enumerate(tokens)}
        self.token2idx = {t: i for i, t in self.idx2token.items()}
        self.style = style
        self.max_seq_length = max_seq_length

    @classmethod
    def build(cls, reports: Iterable[str], *, style: str, threshold: int, max_seq_length: int) -> Tokenizer:
        counts = Counter(token for report in reports for token in clean_report(report, style).split())
        vocab = sorted([t for t, n in counts.items() if n >= threshold] + [UNK])
        return cls(vocab, style=style, max_seq_length=max_seq_length)

    @property
    def vocab_size(self) -> int:
        """Number of ids, 0 included (the size of an output layer)."""
        return len(self.idx2token) + 1

    def clean(self, report: str) -> str:
        return clean_report(report, self.style)

    def encode(self, report: str) -> list[int]:
        unk = self.token2idx[UNK]
        ids = [self.token2idx.get(t, unk) for t in self.clean(report).split()]
        return ([0, *ids, 0])[: self.max_seq_length]

    def decode(self, ids: Sequence[int]) -> str:
        """R2Gen's decode: words up to the first id 0 (so pass ids WITHOUT the leading BOS)."""
        words = []
        for idx in ids:
            idx = int(idx)
            if idx <= 0:
                break
            words.append(self.idx2token[idx])
        return " ".join(words)

    def save(self, path: Path) -> None:
        tokens = [self.idx2token[i] for i in range(1, self.vocab_size)]
        payload = {"style": self.style, "max_seq_length": self.max_seq_length, "tokens": tokens}
        atomic_write_text(Path(path), json.dumps(payload))  # a full disk never leaves half a vocabulary

    @classmethod
    def load(cls, path: Path) -> Tokenizer:
        """A vocabulary written by :meth:`save` (a run's vocab.json), checked before it is used."""
        label = f"the vocabulary {path}"
        fix = "pass the vocab.json that a run wrote, unchanged"
        data = read_json(Path(path), label=label, error=DataError, fix=fix)
        if not isinstance(data, dict):
            raise DataError(f"{label} must hold an object with 'tokens', 'style' and 'max_seq_length'; {fix}")
        tokens, style, length = data.get("tokens"), data.get("style"), data.get("max_seq_length")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens) or UNK not in tokens:
            raise DataError(f"{label}: 'tokens' must be a list of words that includes {UNK!r}; {fix}")
        if len(set(tokens)) < len(tokens):
            raise DataError(f"{label}: 'tokens' lists a word twice; {fix}")
        if style not in STYLES:
            raise DataError(f"{label}: 'style' must be one of {sorted(STYLES)}, not {shown(style)}; {fix}")
        if isinstance(length, bool) or not isinstance(length, int) or length < 2:
            raise DataError(f"{label}: 'max_seq_length' must be an integer of at least 2; {fix}")
        return cls(tokens, style=style, max_seq_length=length)
