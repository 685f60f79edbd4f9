"""Information flow measured by gradients, not shapes: which tokens can influence which."""

from __future__ import annotations

import dataclasses

import torch

from fusion_helpers import tiny, tokens


def _grad(output: torch.Tensor, wrt: torch.Tensor) -> torch.Tensor:
    """d(random projection of ``output``)/d``wrt``; a plain sum would vanish after a LayerNorm."""
    weights = torch.randn(output.shape, generator=torch.Generator().manual_seed(0))
    (g,) = torch.autograd.grad((output * weights).sum(), wrt, retain_graph=True, allow_unused=True)
    return torch.zeros_like(wrt) if g is None else g


def _inputs():
    a = tokens("a", [5, 5], requires_grad=True)
    b = tokens("b", [4, 4], requires_grad=True)
    return a, b


def test_early_concat_mixes_from_the_first_layer():
    fusion = tiny("early_concat", depth=1)
    a, b = _inputs()
    out = fusion({"a": a, "b": b})
    first_a_token = out.per_modality["a"].embeddings[0, 0]
    g_b = _grad(first_a_token, b.embeddings)
    assert g_b[0].abs().sum(-1).gt(0).all(), "every b token of the same sample reaches a's token after one layer"
    assert g_b[1].abs().sum() == 0, "no leakage across samples"


def test_early_sum_adds_token_by_token():
    fusion = tiny("early_sum", depth=1)
    a, b = _inputs()
    a = tokens("a", [4, 4], requires_grad=True)  # aligned lengths: positional sum
    out = fusion({"a": a, "b": b})
    assert _grad(out.sequence.embeddings[0, 0], b.embeddings)[0].abs().sum() > 0


def test_cross_attention_sees_other_stream_not_own_tokens():
    fusion = tiny("cross_attention", depth=1)
    a, b = _inputs()
    out = fusion({"a": a, "b": b})
    token = out.per_modality["a"].embeddings[0, 2]
    g_a, g_b = _grad(token, a.embeddings), _grad(token, b.embeddings)
    assert g_b[0].abs().sum(-1).gt(0).all(), "a's token depends on every b token"
    own = g_a[0].abs().sum(-1)
    assert own[2] > 0, "and on its own state (residual)"
    assert torch.equal(own[[0, 1, 3, 4]], torch.zeros(4)), "but not on a's other tokens inside one cross layer"


def test_cross_attention_two_layers_route_through_other_stream():
    # Two layers: a -> b -> a, so a's tokens now reach each other, only via b.
    fusion = tiny("cross_attention", depth=2)
    a, b = _inputs()
    out = fusion({"a": a, "b": b})
    g_a = _grad(out.per_modality["a"].embeddings[0, 2], a.embeddings)
    assert g_a[0, 0].abs().sum() > 0


def test_one_to_multi_streams_do_not_mix_after_the_split():
    fusion = tiny("one_to_multi")
    a, b = _inputs()
    captured = {}

    def leaf_hook(module, args, output):
        leaf = output.hidden.detach().requires_grad_(True)
        captured["shared"] = leaf
        return dataclasses.replace(output, hidden=leaf)

    handle = fusion.shared.register_forward_hook(leaf_hook)
    out = fusion({"a": a, "b": b})
    handle.remove()
    shared = captured["shared"]  # [B, N_a + N_b, D], a first (sorted keys)
    g = _grad(out.per_modality["a"].embeddings, shared)
    assert g[:, :5].abs().sum() > 0
    assert g[:, 5:].abs().sum() == 0, "after the split, a's encoder never reads b's states"
    # Before the split, the shared stage did mix them: a's output depends on b's input.
    out = fusion({"a": a, "b": b})
    assert _grad(out.per_modality["a"].embeddings, b.embeddings).abs().sum() > 0


def test_multi_to_one_per_modality_stage_is_independent():
    fusion = tiny("multi_to_one")
    a, b = _inputs()
    captured = {}
    handle = fusion.encoders["a"].register_forward_hook(lambda m, args, out: captured.update(a=out.hidden))
    out = fusion({"a": a, "b": b})
    handle.remove()
    assert _grad(captured["a"], b.embeddings).abs().sum() == 0, "a's own encoder never sees b"
    assert _grad(captured["a"], a.embeddings).abs().sum() > 0
    assert _grad(out.per_modality["a"].embeddings, b.embeddings).abs().sum() > 0, "the shared stage mixes"


def test_late_fusion_keeps_modalities_apart_until_the_combination():
    for combine in ("mean", "learned", "poe"):
        fusion = tiny("late", combine=combine, num_classes=3)
        a, b = _inputs()
        out = fusion({"a": a, "b": b})
        assert _grad(out.per_modality["a"].embeddings, b.embeddings).abs().sum() == 0
        assert _grad(out.per_modality["b"].embeddings, a.embeddings).abs().sum() == 0
        for combined in (out.pooled, out.logits):
            assert _grad(combined, a.embeddings).abs().sum() > 0
            assert _grad(combined, b.embeddings).abs().sum() > 0


def test_cross_to_concat_cross_stage_then_global_mixing():
    fusion = tiny("cross_to_concat")
    a, b = _inputs()
    captured = {}
    handle = fusion.streams.register_forward_hook(lambda m, args, out: captured.update(streams=out[0]))
    out = fusion({"a": a, "b": b})
    handle.remove()
    g_a = _grad(captured["streams"]["a"].embeddings[0, 2], a.embeddings)
    assert torch.equal(g_a[0].abs().sum(-1)[[0, 1, 3, 4]], torch.zeros(4)), "cross stage: no self-mixing"
    g_a = _grad(out.per_modality["a"].embeddings[0, 2], a.embeddings)
    assert g_a[0].abs().sum(-1).gt(0).all(), "the shared stage restores global context"
