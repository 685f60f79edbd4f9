"""Tokens.scatter: a modality's samples placed among a larger batch, the rest missing."""

import pytest
import torch

from polymodal import Tokens
from polymodal.errors import InputError


def test_scatter_places_rows_in_order_and_masks_the_rest():
    emb = torch.randn(2, 3, 4, requires_grad=True)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    bias = torch.randn(2, 1, 3, 3)
    tokens = Tokens(emb, mask, "audio", bias)
    full = tokens.scatter(torch.tensor([False, True, False, True]))
    assert full.embeddings.shape == (4, 3, 4) and full.modality == "audio"
    assert torch.equal(full.embeddings[1], emb[0]) and torch.equal(full.embeddings[3], emb[1])
    assert torch.equal(full.mask[1], mask[0]) and torch.equal(full.mask[3], mask[1])
    assert not full.mask[0].any() and not full.mask[2].any() and full.present.tolist() == [False, True, False, True]
    assert torch.equal(full.attention_bias[3], bias[1]) and not full.attention_bias[0].any()
    full.embeddings.sum().backward()
    assert torch.equal(emb.grad, torch.ones_like(emb))
    with pytest.raises(InputError, match="present"):
        tokens.scatter(torch.tensor([True, False, False]))  # one True row for two samples
    with pytest.raises(InputError, match="present"):
        tokens.scatter(torch.tensor([1, 0, 1]))
