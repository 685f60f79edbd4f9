from __future__ import annotations

import pytest
import torch

from fusion_helpers import tokens
from polymodal.errors import ConfigError
from polymodal.fusion import ModalityDropout


def test_never_drops_every_modality_and_rate_is_p():
    drop = ModalityDropout(0.5).train()
    batch = 4000
    inputs = {"a": tokens("a", [3] * batch), "b": tokens("b", [2] * batch)}
    out = drop(inputs, generator=torch.Generator().manual_seed(0))
    present = torch.stack([out["a"].present, out["b"].present], 1)
    assert present.any(1).all(), "every sample keeps at least one modality"
    # p = 0.5 with "keep one if both drawn": each modality dropped with prob 0.5 - 0.25/2 = 0.375
    rate = 1 - present.float().mean(0)
    assert torch.allclose(rate, torch.full((2,), 0.375), atol=0.03)
    # Dropped rows are fully masked and zeroed; kept rows are unchanged.
    kept = out["a"].present
    assert torch.equal(out["a"].embeddings[kept], inputs["a"].embeddings[kept])
    assert out["a"].embeddings[~kept].abs().sum() == 0


def test_keeps_already_missing_modalities_missing_and_others_present():
    drop = ModalityDropout(0.9).train()
    a = tokens("a", [3, 0, 3])
    b = tokens("b", [2, 2, 0])
    out = drop({"a": a, "b": b}, generator=torch.Generator().manual_seed(1))
    assert out["b"].present[1] and out["a"].present[2], "the only present modality is never dropped"
    assert not out["a"].present[1] and not out["b"].present[2]


def test_identity_in_eval_and_bad_p():
    drop = ModalityDropout(0.5).eval()
    inputs = {"a": tokens("a", [3, 2]), "b": tokens("b", [2, 2])}
    out = drop(inputs)
    assert all(out[k] is inputs[k] for k in inputs)
    with pytest.raises(ConfigError):
        ModalityDropout(1.0)
