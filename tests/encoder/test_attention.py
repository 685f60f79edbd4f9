import pytest
import torch

from polymodal.encoder import Attention, KVCache, build_attention_mask
from polymodal.errors import InputError


def reference_attention(attn: Attention, x, context=None, key_mask=None, causal=False, bias=None):
    """Plain-matmul multi-head attention with the same weights, for checking SDPA's path."""
    b, n, d = x.shape
    h, hd = attn.num_heads, attn.head_dim
    if attn.cross:
        q = attn.q(x)
        k, v = attn.kv(context).chunk(2, dim=-1)
    else:
        q, k, v = attn.qkv(x).chunk(3, dim=-1)
    m = k.shape[1]
    q = q.view(b, n, h, hd).transpose(1, 2)
    k = k.view(b, m, h, hd).transpose(1, 2)
    v = v.view(b, m, h, hd).transpose(1, 2)
    logits = q @ k.transpose(-1, -2) / hd**0.5
    if bias is not None:
        logits = logits + bias
    allowed = torch.ones(b, 1, n, m, dtype=torch.bool)
    if key_mask is not None:
        allowed &= key_mask[:, None, None, :]
    if causal:
        allowed &= torch.ones(n, m, dtype=torch.bool).tril()
    logits = logits.masked_fill(~allowed, float("-inf"))
    probs = torch.nan_to_num(logits.softmax(-1), nan=0.0)
    out = (probs @ v).transpose(1, 2).reshape(b, n, d)
    out = attn.proj(out)
    empty = ~allowed.any(-1)[:, 0, :, None]
    return out.masked_fill(empty, 0.0)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_self_attention_matches_reference(causal, with_bias):
    attn = Attention(32, 4).eval()
    x = torch.randn(3, 7, 32)
    key_mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3, [True] * 1 + [False] * 6])
    bias = torch.randn(3, 4, 7, 7) if with_bias else None
    out, _ = attn(x, key_padding_mask=key_mask, causal=causal, attn_bias=bias)
    ref = reference_attention(attn, x, key_mask=key_mask, causal=causal, bias=bias)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_fully_masked_rows_give_zeros_not_nan():
    attn = Attention(16, 2)
    x = torch.randn(2, 5, 16)
    key_mask = torch.tensor([[False] * 5, [True, True, False, False, False]])
    out, weights = attn(x, key_padding_mask=key_mask, need_weights=True)
    assert torch.isfinite(out).all()
    assert torch.equal(out[0], torch.zeros_like(out[0]))
    assert torch.equal(weights[0], torch.zeros_like(weights[0]))
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in attn.parameters())


def test_causal_plus_left_padding_empty_rows_are_zero():
    # Left padding under a causal mask: the first query sees only a padded key.
    attn = Attention(16, 2)
    x = torch.randn(1, 4, 16)
    key_mask = torch.tensor([[False, True, True, True]])
    out, _ = attn(x, key_padding_mask=key_mask, causal=True)
    assert torch.equal(out[0, 0], torch.zeros(16))
    assert torch.isfinite(out).all() and out[0, 1:].abs().sum() > 0


def test_padding_does_not_change_real_tokens():
    attn = Attention(32, 4).eval()
    x = torch.randn(1, 5, 32)
    padded = torch.cat([x, torch.randn(1, 3, 32) * 100], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 3])
    out_alone, _ = attn(x)
    out_padded, _ = attn(padded, key_padding_mask=mask)
    torch.testing.assert_close(out_padded[:, :5], out_alone, atol=1e-5, rtol=1e-5)


def test_causal_mask_blocks_future_through_gradients():
    attn = Attention(16, 2)
    x = torch.randn(1, 6, 16, requires_grad=True)
    out, _ = attn(x, causal=True)
    for i in range(6):
        (grad,) = torch.autograd.grad(out[0, i].sum(), x, retain_graph=True)
        later = grad[0, i + 1 :].abs().sum()
        earlier = grad[0, : i + 1].abs().sum()
        assert later == 0, f"token {i} sees later tokens"
        assert earlier > 0


def test_need_weights_matches_sdpa_and_rows_sum_to_one():
    attn = Attention(32, 4).eval()
    x = torch.randn(2, 6, 32)
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    fast, _ = attn(x, key_padding_mask=mask)
    slow, weights = attn(x, key_padding_mask=mask, need_weights=True)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 6))
    assert weights[1, :, :, 3:].abs().sum() == 0


def test_cross_attention_uses_context_only():
    attn = Attention(16, 2, cross=True, context_dim=24).eval()
    x = torch.randn(2, 3, 16)
    ctx = torch.randn(2, 5, 24)
    ctx_mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    out, _ = attn(x, ctx, key_padding_mask=ctx_mask)
    ref = reference_attention(attn, x, context=ctx, key_mask=ctx_mask)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_kv_cache_matches_full_causal_pass():
    attn = Attention(16, 2).eval()
    x = torch.randn(2, 6, 16)
    full, _ = attn(x, causal=True)
    cache = KVCache()
    steps = [attn(x[:, i : i + 1], causal=True, cache=cache)[0] for i in range(6)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    assert cache.length == 6


def test_bad_mask_shape_is_an_input_error():
    attn = Attention(16, 2)
    with pytest.raises(InputError, match="key_padding_mask"):
        attn(torch.randn(2, 5, 16), key_padding_mask=torch.ones(2, 4, dtype=torch.bool))


def test_build_attention_mask_without_masks_is_none():
    mask, empty = build_attention_mask(2, 3, 3)
    assert mask is None and empty is None


def test_matmul_path_for_short_low_precision_sequences_matches_sdpa():
    from polymodal.encoder.attention import use_matmul_attention

    q = torch.zeros(1, 1, 4, 8, dtype=torch.bfloat16)
    assert use_matmul_attention(q, 9) and not use_matmul_attention(q.float(), 9)
    assert not use_matmul_attention(q, 197)  # long, no gradient: SDPA's forward is faster
    attn = Attention(32, 4).eval()
    x = torch.randn(3, 9, 32)
    key_mask = torch.tensor([[True] * 9, [True] * 4 + [False] * 5, [False] * 9])
    reference, _ = attn(x, key_padding_mask=key_mask, causal=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast, _ = attn(x, key_padding_mask=key_mask, causal=True)
        fast_sdpa_inputs, _ = attn(x, key_padding_mask=key_mask, causal=True, need_weights=True)
    torch.testing.assert_close(fast.float(), reference, atol=5e-2, rtol=5e-2)
    torch.testing.assert_close(fast.float(), fast_sdpa_inputs.float())
    assert torch.equal(fast[2].float(), torch.zeros(9, 32))  # a fully masked sample stays zero
