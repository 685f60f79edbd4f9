import pytest
import torch

from captioner_fixtures import BOS, EOS, PAD, context, tiny
from polymodal.errors import ConfigError, InputError
from polymodal.models import Captioner, CaptionerConfig, GenerationConfig, WordVocabulary
from polymodal.tokens import Tokens
from polymodal.models.generation import DecoderCaches


def test_teacher_forcing_forward_and_tied_output() -> None:
    model = tiny()
    captions = torch.tensor([[BOS, 5, 6, EOS, PAD], [BOS, 7, EOS, PAD, PAD], [BOS, 9, 9, 9, EOS]])
    out = model(context(), captions)
    assert out.logits.shape == (3, 4, 23)
    assert out.loss.ndim == 0 and set(out.objective.terms) == {"captioning"}
    out.loss.backward()
    assert model.token_embed.weight.grad is not None
    assert not any(name.startswith("head") for name, _ in model.named_parameters())  # no untied projection


def test_cached_decoding_equals_full_recompute() -> None:
    model = tiny()
    ctx = context()
    ids = torch.randint(3, 23, (3, 7))
    ids[:, 0] = BOS
    full = model.decode(ids, ctx)
    caches = DecoderCaches.empty(model.config.depth)
    steps = [model.decode(ids[:, t : t + 1], ctx, caches) for t in range(7)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-4, rtol=1e-4)
    assert caches.length == 7 and caches.cross_attn[0].static


def test_errors() -> None:
    model = tiny()
    with pytest.raises(ConfigError):
        model.generate(context(), strategy="nucleus")
    with pytest.raises(ConfigError):
        model.generate(context(), max_new_tokens=100)
    with pytest.raises(ConfigError):
        GenerationConfig(num_beams=0)
    with pytest.raises(InputError):
        model(torch.randn(3, 5, 32), torch.zeros(3, 4, dtype=torch.long))


def test_word_vocabulary_round_trip() -> None:
    vocab = WordVocabulary.from_texts(["a handwritten seven", "a handwritten one."])
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2)
    ids = vocab.encode_batch(["a handwritten seven", "one"])
    assert ids[0, 0] == BOS and ids[1].tolist()[-2:] == [PAD, PAD]
    assert vocab.decode_batch(ids[:, 1:]) == ["a handwritten seven", "one"]
    assert vocab.decode(vocab.encode("a zebra")) == "a <unk>"
    assert WordVocabulary.from_dict(vocab.to_dict()).itos == vocab.itos


def test_save_and_load_round_trip(tmp_path) -> None:
    from polymodal.models.base import load

    vocab = WordVocabulary.from_texts(["a handwritten seven", "a handwritten one"])
    model = Captioner(CaptionerConfig(vocab_size=len(vocab), dim=32, depth=2, num_heads=4, max_length=8), vocab)
    model.save_pretrained(tmp_path)
    loaded = load(tmp_path)
    assert isinstance(loaded, Captioner) and loaded.vocabulary.itos == vocab.itos
    ctx = Tokens.dense(torch.randn(2, 4, 32), "image")
    assert loaded.caption(ctx, strategy="beam", num_beams=2) == model.eval().caption(ctx, strategy="beam", num_beams=2)
    with pytest.raises(ConfigError):
        Captioner(CaptionerConfig(vocab_size=99, dim=32, depth=1, num_heads=4), vocab)
