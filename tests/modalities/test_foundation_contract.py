"""Tokens contract for the text and image tokenizers: batch sizes 1 and 2, gradients reach every parameter, no NaN."""

import pytest
import torch

from polymodal import Tokens
from polymodal.modalities.image import ImageBatch, PatchTokenizer
from polymodal.modalities.text import TextBatch, TextTokenizer


def text_case(b):
    ids = torch.randint(0, 30, (b, 6))
    mask = torch.ones(b, 6, dtype=torch.bool)
    if b == 2:
        mask[1, 4:] = False  # the second sample is padded
    return TextTokenizer(vocab_size=30, dim=8, max_positions=6), TextBatch(ids, mask, torch.zeros_like(ids))


def image_case(b):
    return PatchTokenizer(2, dim=8, patch_size=4, image_size=8, norm=True), ImageBatch(torch.randn(b, 2, 8, 8))


@pytest.mark.parametrize("case", [text_case, image_case])
@pytest.mark.parametrize("b", [1, 2])
def test_tokens_contract(case, b):
    module, batch = case(b)
    tokens = module(batch)
    assert isinstance(tokens, Tokens) and tokens.batch_size == b and tokens.dim == module.dim == 8
    assert tokens.modality == module.modality and torch.isfinite(tokens.embeddings).all()
    (tokens.embeddings * torch.randn_like(tokens.embeddings)).sum().backward()
    for name, p in module.named_parameters():
        if name == "token_type_embeddings.weight":
            continue  # only segment 0 is used here
        assert p.grad is not None and p.grad.abs().sum() > 0, name
