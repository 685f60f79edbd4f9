"""A WordPiece vocabulary learnt from texts is the same on every run (it was not: 61 of 368 ids differed)."""

import json
import subprocess
import sys

import pytest

from polymodal.errors import ConfigError
from polymodal.modalities.text import SPECIAL_TOKENS, TextTransform
from polymodal.modalities.wordpiece import learn_wordpiece

_TRAIN = """
import json, random, sys
from polymodal.modalities.text import TextTransform
rng = random.Random(0)
words = ["football", "match", "goal", "team", "election", "vote", "party", "senate", "stock", "market",
         "price", "trade", "gene", "cell", "protein", "virus", "the", "a", "of"]
texts = [" ".join(rng.choice(words) for _ in range(8)) for _ in range(200)]
print(json.dumps(TextTransform.train_wordpiece(texts, vocab_size=120).tokenizer.get_vocab(), sort_keys=True))
"""


def test_two_processes_learn_the_same_vocabulary():
    # Separate processes with different hash seeds: the tokenizers trainer's ties fell by hash order.
    runs = [
        subprocess.run([sys.executable, "-c", _TRAIN], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout
        for seed in ("1", "2")
    ]
    first, second = (json.loads(r) for r in runs)
    assert len(first) > 60 and first == second


def test_known_merges_and_ties_by_text():
    # "ab" ×3, "ac" ×3: a tie broken by text, ("a", "##b") before ("a", "##c"); then "abd" ×3.
    vocab = learn_wordpiece(["ab", "ab", "ab", "ac", "ac", "ac", "abd", "abd", "abd"], vocab_size=20, special_tokens=["[PAD]", "[UNK]"])
    order = sorted(vocab, key=vocab.get)
    assert order == ["[PAD]", "[UNK]", "##b", "##c", "##d", "a", "ab", "ac", "abd"]


def test_min_frequency_and_size_bounds():
    vocab = learn_wordpiece(["xy", "xy", "zw"], vocab_size=50, min_frequency=2)
    assert "xy" in vocab and "zw" not in vocab  # "zw" is seen once
    assert len(learn_wordpiece(["hello", "world"] * 5, vocab_size=4, special_tokens=["[PAD]"])) == 4
    with pytest.raises(ConfigError, match="vocab_size"):
        learn_wordpiece(["a"], vocab_size=2, special_tokens=["[PAD]", "[UNK]"])


def test_learnt_vocabulary_tokenises_its_corpus_without_unknowns():
    texts = ["The market closed higher.", "A virus infects a cell!", "Markets and viruses."]
    transform = TextTransform.train_wordpiece(texts, vocab_size=200)
    vocab = transform.tokenizer.get_vocab()
    assert [vocab[t] for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    ids = transform("markets closed").input_ids.tolist()
    assert ids[0] == vocab["[CLS]"] and ids[-1] == vocab["[SEP]"] and vocab["[UNK]"] not in ids
    assert transform.decode(ids) == "markets closed"
