"""Learn a WordPiece vocabulary from a corpus, the same on every run.

The ``tokenizers`` library's ``WordPieceTrainer`` breaks ties between equally frequent
pairs by hash-map order, which changes from one process to the next: two identical runs
learnt vocabularies that differed in 61 of 368 ids, so a resumed run read its texts with
other ids than the weights had learnt. This is the same algorithm (BPE merges over words
split into characters, continuation pieces prefixed with ``##``, as the trainer does and as
Google's WordPiece vocabularies look), with every tie broken by the pieces' text, so the
vocabulary is a pure function of the corpus and the options.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence

from polymodal.errors import ConfigError

__all__ = ["learn_wordpiece"]

PREFIX = "##"


def learn_wordpiece(
    words: Iterable[str],
    *,
    vocab_size: int,
    special_tokens: Sequence[str] = (),
    min_frequency: int = 1,
) -> dict[str, int]:
    """Token → id: ``special_tokens`` first, then the alphabet (sorted), then merged pieces in
    the order they were learnt.

    Args:
        words: the corpus's words, already normalised and pre-tokenised (repeats count).
        vocab_size: at most this many tokens (fewer when no pair is left to merge).
        special_tokens: tokens placed first, in this order (``[PAD]`` gets id 0).
        min_frequency: a pair seen fewer times is never merged.

    Each step merges the most frequent adjacent pair of pieces; of equally frequent pairs the
    one whose ``(left, right)`` text sorts first wins.
    """
    if vocab_size < len(special_tokens) + 1:
        raise ConfigError("vocab_size", f"at least {len(special_tokens) + 1} (the special tokens and one piece)", vocab_size)
    counts = Counter(w for w in words if w)
    # Sorted so that everything below (the word list, hence pair discovery) is order-free.
    vocab_words = sorted(counts)
    pieces: list[list[str]] = [[w[0], *(PREFIX + c for c in w[1:])] for w in vocab_words]
    freq = [counts[w] for w in vocab_words]

    vocab: dict[str, int] = {}
    for token in special_tokens:
        vocab.setdefault(token, len(vocab))
    for symbol in sorted({s for word in pieces for s in word}):
        if len(vocab) >= vocab_size:
            return vocab
        vocab.setdefault(symbol, len(vocab))

    pair_count: Counter[tuple[str, str]] = Counter()
    where: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    for i, word in enumerate(pieces):
        for pair in zip(word, word[1:]):
            pair_count[pair] += freq[i]
            where[pair].add(i)
    heap = [(-n, pair) for pair, n in pair_count.items()]
    heapq.heapify(heap)

    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -negative:
            continue  # a stale entry: the count changed after it was pushed
        if -negative < min_frequency:
            break
        merged = pair[0] + pair[1][len(PREFIX) :]
        vocab.setdefault(merged, len(vocab))
        changed: set[tuple[str, str]] = set()
        for i in sorted(where.pop(pair, ())):
            _merge_word(pieces, i, pair, merged, freq[i], pair_count, where, changed.add)
        pair_count.pop(pair, None)
        for p in sorted(changed):
            if pair_count.get(p, 0) > 0:
                heapq.heappush(heap, (-pair_count[p], p))
    return vocab


def _merge_word(
    pieces: list[list[str]],
    i: int,
    pair: tuple[str, str],
    merged: str,
    n: int,
    pair_count: Counter[tuple[str, str]],
    where: defaultdict[tuple[str, str], set[int]],
    touch: Callable[[tuple[str, str]], None],
) -> None:
    """Replace every occurrence of ``pair`` in word ``i`` (frequency ``n``), updating the pair counts."""
    word = pieces[i]
    for old in zip(word, word[1:]):
        pair_count[old] -= n
        touch(old)
    out, k = [], 0
    while k < len(word):
        if k + 1 < len(word) and (word[k], word[k + 1]) == pair:
            out.append(merged)
            k += 2
        else:
            out.append(word[k])
            k += 1
    pieces[i] = out
    for new in zip(out, out[1:]):
        pair_count[new] += n
        where[new].add(i)
        touch(new)
    for old in set(zip(word, word[1:])) - set(zip(out, out[1:])):
        where[old].discard(i)
