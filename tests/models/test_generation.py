"""Generation strategies: greedy, beam search and sampling, cached and uncached."""

import itertools
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from captioner_fixtures import BOS, EOS, PAD, context, tiny
from polymodal.models import generate
from polymodal.models.generation import filter_logits
from polymodal.tokens import Tokens


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

    def decode(self, ids: torch.Tensor, context: Tokens, caches=None, last_only: bool = False) -> torch.Tensor:
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
