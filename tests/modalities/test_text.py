import pickle

import pytest
import torch

from polymodal.errors import InputError
from polymodal.modalities import MODALITIES, TOKENIZERS
from polymodal.modalities.text import TextBatch, TextTokenizer, TextTransform, collate_text, read_text

CORPUS = [
    "the cat sat on the mat",
    "a dog chased the cat around the garden",
    "Transformers encode every modality as a sequence of tokens",
    "images become patches and text becomes word pieces",
] * 5


@pytest.fixture(scope="module")
def transform() -> TextTransform:
    return TextTransform.train_wordpiece(CORPUS, vocab_size=200, max_length=12)


def test_trained_wordpiece_pads_and_masks(transform):
    batch = transform.batch(["The Cat sat", "a dog chased the cat around the garden again and again and again"])
    assert batch.input_ids.shape[0] == 2 and batch.input_ids.shape[1] == 12  # truncated to max_length
    assert batch.attention_mask.dtype == torch.bool
    assert batch.attention_mask[0].sum() < 12 and batch.attention_mask[1].all()
    assert batch.input_ids[0, 0] == transform.token_to_id("[CLS]")
    last = int(batch.attention_mask[0].sum()) - 1
    assert batch.input_ids[0, last] == transform.token_to_id("[SEP]")
    assert batch.input_ids[1, -1] == transform.token_to_id("[SEP]")  # truncation keeps [SEP]
    assert (batch.input_ids[0, last + 1 :] == transform.pad_id).all()
    assert transform.decode(batch.input_ids[0, 1:last].tolist()) == "the cat sat"  # lower-cased


def test_vocab_txt_follows_do_lower_case(tmp_path):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "Hello", "world"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    cased = TextTransform.from_pretrained(tmp_path)
    assert cased("Hello world").input_ids.tolist() == [2, 6, 7, 3]
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": true}')
    uncased = TextTransform.from_pretrained(tmp_path)
    assert uncased("Hello world").input_ids.tolist() == [2, 5, 7, 3]


def test_save_reload_and_pickle(transform, tmp_path):
    transform.save(tmp_path)
    again = TextTransform.from_pretrained(tmp_path)
    clone = pickle.loads(pickle.dumps(transform))
    texts = ["images become patches", "the cat"]
    for other in (again, clone):
        assert other.max_length == transform.max_length
        assert torch.equal(other.batch(texts).input_ids, transform.batch(texts).input_ids)


def test_bad_text_inputs(transform):
    with pytest.raises(InputError, match="empty"):
        transform.batch([])
    with pytest.raises(InputError, match="single string"):
        transform.batch("not a list")
    with pytest.raises(InputError, match="strings only"):
        transform.batch(["ok", 3])
    with pytest.raises(InputError, match="empty"):
        collate_text([])


def test_text_tokenizer_returns_masked_tokens(transform):
    batch = transform.batch(["the cat", "images become patches and text"])
    module = TextTokenizer(vocab_size=transform.vocab_size, dim=16, max_positions=12)
    tokens = module(batch)
    assert tokens.embeddings.shape == (2, batch.input_ids.shape[1], 16)
    assert torch.equal(tokens.mask, batch.attention_mask) and tokens.modality == "text"
    long_batch = TextBatch(torch.zeros(1, 13, dtype=torch.long), torch.ones(1, 13, dtype=torch.bool), torch.zeros(1, 13, dtype=torch.long))
    with pytest.raises(InputError, match="at most 12 tokens"):
        module(long_batch)
    with pytest.raises(InputError, match="attention_mask"):
        TextBatch(torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 4, dtype=torch.bool), torch.zeros(1, 3, dtype=torch.long))


def test_registered(tmp_path):
    spec = MODALITIES.get("text")
    assert TOKENIZERS.get(spec.default_tokenizer) is TextTokenizer
    (tmp_path / "a.txt").write_text("  hello  \n")
    assert spec.read(tmp_path / "a.txt") == "hello" == read_text(tmp_path / "a.txt")


def test_any_tokenizer_json_loads(tmp_path):
    # CLIP ships a byte-level BPE tokenizer.json; TextTransform takes any fast tokenizer file.
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=120, special_tokens=["<pad>", "<unk>", "<s>", "</s>"], show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 2), ("</s>", 3)])
    tok.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text('{"pad_token": {"content": "<pad>"}, "model_max_length": 77}')
    transform = TextTransform.from_pretrained(tmp_path)
    assert transform.max_length == 77 and transform.pad_id == 0
    batch = transform.batch(["the cat sat", "a dog"])
    assert batch.input_ids[0, 0] == 2 and batch.input_ids[1, int(batch.attention_mask[1].sum()) - 1] == 3
