"""The encoder stack: CLS, positions, pooling, masks, hidden states, freezing, input errors."""

import pytest
import torch

from polymodal import Tokens
from polymodal.encoder import (
    EncoderConfig,
    LearnedGridPositions,
    LearnedPositions,
    TransformerEncoder,
    interpolate_positions,
    interpolate_positions_2d,
)
from polymodal.errors import ConfigError, InputError


def small(**overrides) -> TransformerEncoder:
    return TransformerEncoder(EncoderConfig(**{"dim": 16, "depth": 2, "num_heads": 4, **overrides})).eval()


def padded_tokens() -> Tokens:
    return Tokens.from_list([torch.randn(5, 16), torch.randn(3, 16), torch.randn(1, 16)], "test")


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("pool", ["cls", "mean", "last"])
def test_padding_changes_no_real_token(norm_first, pool):
    encoder = small(norm_first=norm_first, pool=pool, positions="learned")
    tokens = padded_tokens()
    out = encoder(tokens)
    for i, n in enumerate(tokens.lengths.tolist()):
        alone = encoder(Tokens.dense(tokens.embeddings[i : i + 1, :n], "test"))
        torch.testing.assert_close(out.hidden[i, : n + 1], alone.hidden[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.pooled[i], alone.pooled[0], atol=1e-5, rtol=1e-5)
    # Garbage in the padding does not matter either.
    noisy = tokens.replace(embeddings=tokens.embeddings + 100 * (~tokens.mask[..., None]).float())
    torch.testing.assert_close(encoder(noisy).pooled, out.pooled, atol=1e-5, rtol=1e-5)


def test_causal_mask_blocks_gradients_from_later_tokens():
    encoder = small(cls_token=False, pool="mean")
    x = torch.randn(1, 6, 16, requires_grad=True)
    out = encoder(Tokens.dense(x, "text"), causal=True)
    probe = torch.randn(16)  # a plain sum of a LayerNorm output has zero gradient
    (out.hidden[0, 2] * probe).sum().backward()
    grad = x.grad[0].abs().sum(-1)
    assert (grad[:3] > 0).all() and (grad[3:] == 0).all()
    x.grad = None
    (encoder(Tokens.dense(x, "text")).hidden[0, 2] * probe).sum().backward()
    assert (x.grad[0].abs().sum(-1) > 0).all()


def test_cls_token_and_mask():
    encoder = small()
    tokens = padded_tokens()
    out = encoder(tokens)
    assert out.hidden.shape == (3, 6, 16) and out.mask[:, 0].all()
    torch.testing.assert_close(out.pooled, out.hidden[:, 0])
    missing = Tokens(torch.randn(2, 4, 16), torch.tensor([[True] * 4, [False] * 4]), "test")
    out = encoder(missing)
    assert not out.mask[1].any() and torch.equal(out.pooled[1], torch.zeros(16))


def test_no_padding_hint_is_kept_only_while_the_mask_is():
    emb = torch.randn(3, 4, 16)
    dense = Tokens.dense(emb, "test")
    assert dense.no_padding and dense.to(torch.float64).no_padding and dense.select(torch.tensor([0, 2])).no_padding
    assert dense.replace(embeddings=emb * 2).no_padding
    assert not dense.replace(mask=torch.ones(3, 4, dtype=torch.bool)).no_padding  # a new mask is not known unpadded
    assert Tokens.from_list([torch.randn(4, 16)] * 2, "test").no_padding
    assert not padded_tokens().no_padding and not Tokens(emb, torch.ones(3, 4, dtype=torch.bool), "test").no_padding
    # The hint changes no value: the encoder gives the same output either way.
    encoder = small(pool="mean")
    unknown = Tokens(emb, torch.ones(3, 4, dtype=torch.bool), "test")
    torch.testing.assert_close(encoder(dense).hidden, encoder(unknown).hidden)


def test_mean_and_last_pooling():
    tokens = padded_tokens()
    out = small(cls_token=False, pool="mean")(tokens)
    expected = (out.hidden * tokens.mask[..., None]).sum(1) / tokens.lengths[:, None]
    torch.testing.assert_close(out.pooled, expected)
    out = small(cls_token=True, pool="last")(tokens)
    last = torch.stack([out.hidden[i, n] for i, n in enumerate(tokens.lengths.tolist())])  # +1 for CLS, -1 for index
    torch.testing.assert_close(out.pooled, last)
    with pytest.raises(ConfigError, match="pool"):
        EncoderConfig(cls_token=False, pool="cls")


def test_hidden_states_and_attentions():
    encoder = small(depth=3)
    tokens = padded_tokens()
    out = encoder(tokens, output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == 4 and len(out.attentions) == 3
    torch.testing.assert_close(encoder.norm(out.hidden_states[-1]), out.hidden)
    attn = out.attentions[0]
    assert attn.shape == (3, 4, 6, 6)
    torch.testing.assert_close(attn.sum(-1), torch.ones(3, 4, 6))
    assert (attn[1, :, :, 4:] == 0).all()  # sample 1 has 3 real tokens + CLS
    plain = encoder(tokens)
    torch.testing.assert_close(plain.hidden, out.hidden, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_positions_make_order_matter(positions):
    encoder = small(positions=positions, cls_token=False, pool="mean")
    x = torch.randn(1, 4, 16)
    a = encoder(Tokens.dense(x, "t")).hidden
    b = encoder(Tokens.dense(x.flip(1), "t")).hidden.flip(1)
    assert (a - b).abs().max() > 1e-4
    unordered = small(positions="none", cls_token=False, pool="mean")
    torch.testing.assert_close(
        unordered(Tokens.dense(x, "t")).hidden, unordered(Tokens.dense(x.flip(1), "t")).hidden.flip(1), atol=1e-5, rtol=1e-5
    )


def test_position_interpolation():
    table = torch.arange(4.0)[:, None].repeat(1, 2)
    longer = interpolate_positions(table, 8)
    assert longer.shape == (8, 2) and longer[0, 0] == 0 and longer[-1, 0] == 3
    grid = torch.randn(4 * 4, 3)
    assert interpolate_positions_2d(grid, (4, 4), (6, 8)).shape == (48, 3)
    torch.testing.assert_close(interpolate_positions_2d(grid, (4, 4), (4, 4)), grid)
    assert LearnedGridPositions((2, 2), 3)((3, 3)).shape == (1, 9, 3)
    assert LearnedPositions(4, 3)(10).shape == (1, 10, 3)
    encoder = small(positions="learned", max_positions=4)
    assert encoder(Tokens.dense(torch.randn(1, 7, 16), "t")).hidden.shape == (1, 8, 16)


def test_sequence_longer_than_positions_without_interpolation():
    encoder = small(positions="learned", max_positions=4, interpolate_positions=False)
    with pytest.raises(InputError, match="at most 4 tokens"):
        encoder(Tokens.dense(torch.randn(1, 5, 16), "t"))
    with pytest.raises(InputError, match="grid"):
        LearnedGridPositions((2, 2), 3, interpolate=False)((3, 3))


def test_freeze():
    encoder = small().train()
    encoder.freeze()
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training  # stays in eval mode inside a training model
    encoder.freeze(False).train()
    assert encoder.training and all(p.requires_grad for p in encoder.parameters())


def test_input_errors():
    encoder = small()
    with pytest.raises(InputError, match="width D=16"):
        encoder(Tokens.dense(torch.randn(1, 3, 8), "t"))
    with pytest.raises(InputError, match="Tokens"):
        encoder(torch.randn(1, 3, 16))
    with pytest.raises(InputError, match="Tokens.mask"):
        Tokens(torch.randn(2, 3, 16), torch.ones(2, 4, dtype=torch.bool), "t")
    with pytest.raises(InputError, match="bool"):
        Tokens(torch.randn(2, 3, 16), torch.ones(2, 3), "t")
    with pytest.raises(InputError, match="key_padding_mask"):
        encoder.blocks[0].attn(torch.randn(2, 3, 16), key_padding_mask=torch.ones(2, 4, dtype=torch.bool))
