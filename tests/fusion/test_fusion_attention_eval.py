"""Attention rollout and the cross-attention plot (polymodal.evaluation.attention)."""

from __future__ import annotations

import pytest
import torch

from fusion_helpers import tiny, tokens
from polymodal.errors import InputError
from polymodal.evaluation.attention import attention_rollout, plot_cross_attention


def test_rollout_of_uniform_attention():
    n = 4
    uniform = torch.full((1, 2, n, n), 1.0 / n)
    rolled = attention_rollout([uniform, uniform])
    torch.testing.assert_close(rolled.sum(-1), torch.ones(1, n))
    # 0.5·U + 0.5·I applied twice: the diagonal keeps 0.25 + 0.5·... of its own token
    step = 0.5 * uniform[0, 0] + 0.5 * torch.eye(n)
    torch.testing.assert_close(rolled[0], step @ step)


def test_rollout_without_residual_is_the_product():
    a = torch.softmax(torch.randn(2, 3, 5, 5), -1)
    b = torch.softmax(torch.randn(2, 3, 5, 5), -1)
    rolled = attention_rollout([a, b], residual=False)
    torch.testing.assert_close(rolled, b.mean(1) @ a.mean(1))


def test_rollout_on_a_fusion_with_missing_rows():
    fusion = tiny("early_concat")
    out = fusion({"a": tokens("a", [5, 0]), "b": tokens("b", [4, 2])}, output_attentions=True)
    rolled = attention_rollout(out.attentions["fused"])
    assert rolled.shape == (2, 9, 9) and torch.isfinite(rolled).all()
    torch.testing.assert_close(rolled.sum(-1), torch.ones(2, 9))
    # Masked a tokens of sample 1 receive no attention from the real b tokens.
    assert rolled[1, 5:7, :5].abs().sum() < 1e-6


def test_rollout_rejects_cross_maps():
    with pytest.raises(InputError):
        attention_rollout([torch.rand(1, 2, 3, 5)])


def test_plot_cross_attention_writes_png(tmp_path):
    fusion = tiny("cross_attention", modalities=("image", "text"))
    image, text = tokens("image", [16]), tokens("text", [3])
    out = fusion({"image": image.replace(modality="image"), "text": text}, output_attentions=True)
    # which image patches (a 4×4 grid) each word attends to, last layer
    path = plot_cross_attention(
        out.attentions["cross:text"][-1], tmp_path / "plots" / "words.png",
        query_labels=["a", "red", "car"], key_grid=(4, 4), title="text → image",
    )
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    matrix = plot_cross_attention(out.attentions["cross:image"][0][0, 0], tmp_path / "matrix.png")
    assert matrix.stat().st_size > 0
    with pytest.raises(InputError):
        plot_cross_attention(out.attentions["cross:text"][-1], tmp_path / "x.png", key_grid=(3, 3))
