import itertools
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from polymodal.errors import ConfigError, InputError
from polymodal.models import Captioner, CaptionerConfig, GenerationConfig, WordVocabulary, generate
from polymodal.models.generation import DecoderCaches, filter_logits
from polymodal.tokens import Tokens

PAD, BOS, EOS = 0, 1, 2


def tiny(vocab: int = 23, **kw) -> Captioner:
    torch.manual_seed(0)
    model = Captioner(CaptionerConfig(vocab_size=vocab, dim=32, depth=2, num_heads=4, max_length=24, **kw))
    # Scale up the tied embeddings so a random model is confident and rarely ends at once.
    with torch.no_grad():
        model.token_embed.weight.mul_(40.0)
        model.token_embed.weight[EOS].mul_(0.1)
    return model.eval()


def context(b: int = 3, m: int = 5, padded: bool = True) -> Tokens:
    g = torch.Generator().manual_seed(1)
    mask = torch.ones(b, m, dtype=torch.bool)
    if padded:
        mask[0, 3:] = False
    return Tokens(torch.randn(b, m, 32, generator=g), mask, "image")


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


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_cached_and_uncached_generation_give_identical_tokens(strategy: str) -> None:
    model, ctx = tiny(), context()
    outs = [
        model.generate(
            ctx,
            strategy=strategy,
            max_new_tokens=12,
            num_beams=3,
            top_k=8,
            top_p=0.9,
            use_cache=use_cache,
            generator=torch.Generator().manual_seed(7),
        )
        for use_cache in (True, False)
    ]
    assert torch.equal(outs[0].tokens, outs[1].tokens)
    torch.testing.assert_close(outs[0].scores, outs[1].scores, atol=1e-4, rtol=1e-4)
    assert outs[0].tokens.shape[1] > 2  # not an immediate <eos>


def test_beam_width_one_is_greedy() -> None:
    model = tiny()
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        ctx = Tokens.dense(torch.randn(4, 6, 32, generator=g), "image")
        greedy = model.generate(ctx, strategy="greedy", max_new_tokens=15)
        beam = model.generate(ctx, strategy="beam", num_beams=1, length_penalty=0.0, max_new_tokens=15)
        assert torch.equal(beam.tokens, greedy.tokens)
        torch.testing.assert_close(beam.scores, greedy.scores)


def test_fixed_length_without_end_token() -> None:
    model = tiny()
    out = model.generate(context(), strategy="beam", num_beams=2, max_new_tokens=9, use_end_token=False)
    assert out.tokens.shape == (3, 9) and (out.lengths == 9).all()
    assert not (out.tokens == EOS).any()


def test_sampling_is_seeded_and_filters() -> None:
    model, ctx = tiny(), context()
    a = model.generate(ctx, strategy="sample", generator=torch.Generator().manual_seed(3), max_new_tokens=10)
    b = model.generate(ctx, strategy="sample", generator=torch.Generator().manual_seed(3), max_new_tokens=10)
    assert torch.equal(a.tokens, b.tokens)
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    # softmax ≈ [0.64, 0.24, 0.09, 0.03]: 0.64 < 0.7, so the nucleus needs the second token too.
    assert torch.isinf(filter_logits(logits, top_p=0.7)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.5)).tolist() == [[False, True, True, True]]


class TableDecoder(nn.Module):
    """A fake decoder whose next-token logits are a fixed random function of the prefix."""

    def __init__(self, vocab: int = 5, seed: int = 0) -> None:
        super().__init__()
        self.config = SimpleNamespace(depth=1, max_length=8, pad_id=PAD, bos_id=BOS, eos_id=EOS)
        self.vocab, self.seed = vocab, seed

    def logits_after(self, prefix: tuple[int, ...]) -> torch.Tensor:
        g = torch.Generator().manual_seed(hash((self.seed, prefix)) % (2**31))
        return torch.randn(self.vocab, generator=g) * 2

    def decode(self, ids: torch.Tensor, context: Tokens, caches=None) -> torch.Tensor:
        rows = [self.logits_after(tuple(row)) for row in ids.tolist()]
        return torch.stack(rows)[:, None].expand(-1, ids.shape[1], -1)


def brute_force(model: TableDecoder, max_len: int, alpha: float) -> tuple[float, list[int]]:
    """Best length-penalised hypothesis over every sequence of ordinary tokens (3, 4) and <eos>."""
    best = (-math.inf, [])
    for n in range(max_len + 1):
        for body in itertools.product([3, 4], repeat=n):
            seq = list(body) + ([EOS] if n < max_len else [])
            if not seq:
                continue
            total, prefix = 0.0, (BOS,)
            for token in seq:
                logits = model.logits_after(prefix)
                logits[[PAD, BOS]] = -math.inf
                total += logits.log_softmax(-1)[token].item()
                prefix += (token,)
            score = total / len(seq) ** alpha
            if score > best[0]:
                best = (score, seq)
    return best


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wide_beam_finds_the_exact_best_hypothesis(alpha: float, seed: int) -> None:
    # With 16 beams over 2 ordinary tokens and 3 steps nothing is ever pruned, so beam search
    # must return the exhaustive optimum: finished and running hypotheses both compete.
    model = TableDecoder(seed=seed)
    ctx = Tokens.dense(torch.zeros(1, 1, 4), "image")
    out = generate(model, ctx, strategy="beam", num_beams=16, length_penalty=alpha, max_new_tokens=3, use_cache=False)
    score, seq = brute_force(model, 3, alpha)
    assert out.tokens[0, : out.lengths[0]].tolist() == seq
    assert out.scores[0].item() == pytest.approx(score, abs=1e-5)


def test_beam_search_is_batch_independent() -> None:
    model, ctx = tiny(), context(padded=False)
    together = model.generate(ctx, strategy="beam", num_beams=3, max_new_tokens=10)
    for i in range(3):
        alone = model.generate(ctx.select(torch.tensor([i])), strategy="beam", num_beams=3, max_new_tokens=10)
        n = alone.lengths[0]
        assert torch.equal(together.tokens[i, :n], alone.tokens[0, :n])


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
