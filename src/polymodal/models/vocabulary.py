"""A small word-level vocabulary for captions (and other short, closed-vocabulary text).

Captions of a small task ("a handwritten seven") need no subword model: words are
lower-cased and split on whitespace and punctuation, and unknown words map to ``<unk>``.
The four special tokens come first, so their ids are fixed: ``<pad>`` 0, ``<bos>`` 1,
``<eos>`` 2, ``<unk>`` 3.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from polymodal.errors import InputError

__all__ = ["WordVocabulary", "SPECIAL_TOKENS"]

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", "<unk>")
_WORD = re.compile(r"\w+|[^\w\s]")


class WordVocabulary:
    """Word ↔ id mapping with ``<pad>``, ``<bos>``, ``<eos>`` and ``<unk>``.

    Args:
        words: the ordinary words, in id order after the special tokens.
    """

    def __init__(self, words: Sequence[str]) -> None:
        duplicates = [w for w, n in Counter(words).items() if n > 1]
        if duplicates or any(w in SPECIAL_TOKENS for w in words):
            raise InputError("words", "distinct words other than the special tokens", duplicates or list(words))
        self.itos: list[str] = list(SPECIAL_TOKENS) + list(words)
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = 0, 1, 2, 3

    @staticmethod
    def split(text: str) -> list[str]:
        return _WORD.findall(text.lower())

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, min_count: int = 1) -> WordVocabulary:
        """Words seen at least ``min_count`` times, most frequent first (ties alphabetical)."""
        counts = Counter(w for t in texts for w in cls.split(t))
        words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls(words)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, *, add_special: bool = True) -> list[int]:
        ids = [self.stoi.get(w, self.unk_id) for w in self.split(text)]
        return [self.bos_id, *ids, self.eos_id] if add_special else ids

    def encode_batch(self, texts: Sequence[str]) -> Tensor:
        """``[B, T]`` long ids ``<bos> … <eos>``, right-padded with ``<pad>``."""
        rows = [self.encode(t) for t in texts]
        out = torch.full((len(rows), max(map(len, rows))), self.pad_id, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor(row)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Words up to the first ``<eos>``, special tokens dropped."""
        words = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i >= len(SPECIAL_TOKENS) or i == self.unk_id:
                words.append(self.itos[i])
        return " ".join(words)

    def decode_batch(self, ids: Tensor) -> list[str]:
        return [self.decode(row) for row in ids.tolist()]

    def to_dict(self) -> dict:
        return {"words": self.itos[len(SPECIAL_TOKENS) :]}

    @classmethod
    def from_dict(cls, data: dict) -> WordVocabulary:
        return cls(data["words"])
