"""Missing modalities, per strategy: absent keys and fully masked rows give finite outputs equal
to running on the present modality alone (every strategy here defines it so)."""

from __future__ import annotations

import torch

from fusion_helpers import DIM, tiny, tokens
from polymodal.tokens import Tokens


def _mask_row(t: Tokens, row: int) -> Tokens:
    mask = t.mask.clone()
    mask[row] = False
    return t.replace(mask=mask)


def test_absent_key_equals_masked_rows(fusion_name):
    fusion = tiny(fusion_name)
    a, b = tokens("a", [5, 3]), tokens("b", [4, 2])
    alone = fusion({"a": a})
    assert torch.isfinite(alone.pooled).all()
    assert set(alone.per_modality) <= {"a"}
    # b present in the batch but masked in sample 0: sample 0 must match the a-only run.
    mixed = fusion({"a": a, "b": _mask_row(b, 0)})
    torch.testing.assert_close(mixed.pooled[0], alone.pooled[0], atol=1e-5, rtol=1e-5)
    if "a" in alone.per_modality:
        ref, got = alone.per_modality["a"], mixed.per_modality["a"]
        torch.testing.assert_close(got.embeddings[0][ref.mask[0]], ref.embeddings[0][ref.mask[0]], atol=1e-5, rtol=1e-5)
    # Sample 1 still uses b: it differs from the a-only run.
    assert not torch.allclose(mixed.pooled[1], alone.pooled[1], atol=1e-4)


def test_other_modality_absent_too(fusion_name):
    fusion = tiny(fusion_name)
    b = tokens("b", [4, 2])
    out = fusion({"b": b}, output_attentions=True)
    assert out.pooled.shape == (2, DIM) and torch.isfinite(out.pooled).all()
    masked = fusion({"b": b, "a": _mask_row(_mask_row(tokens("a", [5, 3]), 0), 1)})
    torch.testing.assert_close(masked.pooled, out.pooled, atol=1e-5, rtol=1e-5)


def test_late_logits_with_missing_modality():
    fusion = tiny("late", num_classes=3, combine="poe")
    a, b = tokens("a", [5, 3]), tokens("b", [4, 2])
    alone = fusion({"a": a})
    mixed = fusion({"a": a, "b": _mask_row(b, 1)})
    torch.testing.assert_close(mixed.logits[1], alone.logits[1], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(mixed.logits).all()


def test_early_sum_renormalises_weights():
    fusion = tiny("early_sum", init_weights=(3.0, 1.0))
    a, b = tokens("a", [4, 4]), tokens("b", [4, 4])
    w = fusion.mixing_weights([("a", a), ("b", _mask_row(b, 1))])
    torch.testing.assert_close(w, torch.tensor([[0.75, 0.25], [1.0, 0.0]]))
