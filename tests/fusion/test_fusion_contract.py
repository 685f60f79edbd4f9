"""Contract over the whole FUSIONS registry (timm's test_models style): every strategy, tiny config."""

from __future__ import annotations

import pytest
import torch

from fusion_helpers import DIM, tiny, tokens
from polymodal.fusion import FusionOutput
from polymodal.tokens import Tokens


@pytest.mark.parametrize("batch", [1, 2])
def test_forward_shapes_and_types(fusion_name, batch):
    fusion = tiny(fusion_name)
    lengths_a, lengths_b = [5, 3][:batch], [4, 2][:batch]
    out = fusion({"b": tokens("b", lengths_b), "a": tokens("a", lengths_a)})
    assert isinstance(out, FusionOutput)
    assert out.pooled.shape == (batch, DIM)
    assert torch.isfinite(out.pooled).all()
    assert out.attentions is None
    if out.sequence is not None:
        assert isinstance(out.sequence, Tokens) and out.sequence.batch_size == batch
    for name, t in out.per_modality.items():
        assert name in {"a", "b"} and t.batch_size == batch and t.dim == DIM
        assert torch.isfinite(t.embeddings).all()


def test_padding_invariance(fusion_name):
    fusion = tiny(fusion_name)
    a, b = tokens("a", [5, 3]), tokens("b", [4, 2])

    def pad(t: Tokens, extra: int) -> Tokens:
        junk = torch.randn(t.batch_size, extra, DIM) * 100  # padding values must not matter
        return Tokens(torch.cat([t.embeddings, junk], 1), torch.cat([t.mask, torch.zeros(t.batch_size, extra, dtype=torch.bool)], 1), t.modality)

    ref = fusion({"a": a, "b": b})
    out = fusion({"a": pad(a, 3), "b": pad(b, 6)})
    torch.testing.assert_close(out.pooled, ref.pooled, atol=1e-5, rtol=1e-5)
    for name, t in ref.per_modality.items():
        got = out.per_modality[name]
        real = t.mask
        torch.testing.assert_close(got.embeddings[:, : t.length][real], t.embeddings[real], atol=1e-5, rtol=1e-5)


def test_gradients_reach_every_parameter(fusion_name):
    extra = {"num_classes": 3} if fusion_name == "late" else {}
    fusion = tiny(fusion_name, **extra).train()
    out = fusion({"a": tokens("a", [5, 3]), "b": tokens("b", [4, 2])})
    # A random projection, not a plain sum: LayerNorm outputs can sum to a constant.
    loss = (out.pooled * torch.randn_like(out.pooled)).sum()
    for t in out.per_modality.values():
        loss = loss + (t.embeddings * torch.randn_like(t.embeddings) * t.mask[..., None]).sum()
    if out.logits is not None:
        loss = loss + (out.logits * torch.randn_like(out.logits)).sum()
    loss.backward()
    for name, p in fusion.named_parameters():
        assert p.grad is not None, f"{fusion_name}: no gradient reaches {name}"
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{fusion_name}: zero gradient at {name}"


def test_no_nan_with_masked_rows_and_empty_samples(fusion_name):
    fusion = tiny(fusion_name)
    a = tokens("a", [5, 0, 3])  # sample 1 misses a
    b = tokens("b", [0, 0, 2])  # sample 0 misses b; sample 1 has nothing at all
    out = fusion({"a": a, "b": b}, output_attentions=True)
    assert torch.isfinite(out.pooled).all()
    assert torch.equal(out.pooled[1], torch.zeros(DIM))
    for t in out.per_modality.values():
        assert torch.isfinite(t.embeddings).all()
    for maps in out.attentions.values():
        assert all(torch.isfinite(m).all() for m in maps)


def test_attentions_returned(fusion_name):
    fusion = tiny(fusion_name)
    out = fusion({"a": tokens("a", [5, 3]), "b": tokens("b", [4, 2])}, output_attentions=True)
    assert out.attentions
    for stage, maps in out.attentions.items():
        assert len(maps) >= 1
        for m in maps:
            assert m.ndim == 4 and m.shape[:2] == (2, 2), stage
            rows = m.sum(-1)
            # every row is a distribution over keys (or all zero for a query with no key)
            assert torch.all((rows - 1).abs() < 1e-5) or torch.all((rows.abs() < 1e-5) | ((rows - 1).abs() < 1e-5))
    # Cross strategies expose their cross maps; early ones their fused self-attention.
    keys = set(out.attentions)
    if fusion_name.startswith("cross"):
        assert {"cross:a", "cross:b"} <= keys
        assert out.attentions["cross:a"][0].shape[-2:] == (5, 4)
    if fusion_name.startswith("early"):
        assert "fused" in keys


def test_three_modalities(fusion_name):
    fusion = tiny(fusion_name, modalities=("a", "b", "c"))
    out = fusion({"c": tokens("c", [2, 6]), "a": tokens("a", [5, 3]), "b": tokens("b", [4, 2])}, output_attentions=True)
    assert out.pooled.shape == (2, DIM) and torch.isfinite(out.pooled).all()
    if fusion_name.startswith("cross"):
        # "all others" context: a's queries see b's and c's tokens (4 + 6 padded)
        assert out.attentions["cross:a"][0].shape[-1] == 4 + 6


def test_key_order_does_not_matter(fusion_name):
    fusion = tiny(fusion_name)
    a, b = tokens("a", [5, 3]), tokens("b", [4, 2])
    torch.testing.assert_close(fusion({"a": a, "b": b}).pooled, fusion({"b": b, "a": a}).pooled)


VARIANTS = [
    ("early_sum", {"weights": "learnable", "init_weights": (2.0, 1.0)}),
    ("cross_attention", {"interleave_self": True}),
    ("cross_to_concat", {"interleave_self": True}),
    ("late", {"combine": "learned", "num_classes": 3}),
    ("late", {"combine": "poe"}),
    ("late", {"combine": "poe", "num_classes": 3}),
]


@pytest.mark.parametrize("name,overrides", VARIANTS)
def test_variants_train_and_tolerate_missing_rows(name, overrides):
    fusion = tiny(name, **overrides).train()
    out = fusion({"a": tokens("a", [5, 0]), "b": tokens("b", [4, 2])}, output_attentions=True)
    loss = (out.pooled * torch.randn_like(out.pooled)).sum()
    if out.logits is not None:
        loss = loss + (out.logits * torch.randn_like(out.logits)).sum()
    for t in out.per_modality.values():
        loss = loss + (t.embeddings * torch.randn_like(t.embeddings) * t.mask[..., None]).sum()
    loss.backward()
    assert torch.isfinite(out.pooled).all()
    for pname, p in fusion.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    if overrides.get("interleave_self"):
        assert {"self:a", "self:b"} <= set(out.attentions)
