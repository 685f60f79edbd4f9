from dataclasses import dataclass

import pytest
import torch
from modality_checks import check_encoder_gradients, check_tokens

from polymodal.errors import InputError
from polymodal.modalities import TOKENIZERS


@dataclass
class FakeImageBatch:  # the foundation's ImageBatch has the same ``pixels`` field
    pixels: torch.Tensor


def test_rows_tokens_from_tensor_and_batch():
    tok = TOKENIZERS.get("image_conv_rows")(dim=32, in_channels=1, image_size=(8, 8), channels=32)
    pixels = torch.rand(3, 1, 8, 8)
    tokens = tok(pixels)
    check_tokens(tokens, 3, 8, 32, "image")
    assert tokens.mask.all()
    torch.testing.assert_close(tok(FakeImageBatch(pixels)).embeddings, tokens.embeddings)
    check_encoder_gradients(tok, FakeImageBatch(pixels))


def test_rows_are_per_sample():
    tok = TOKENIZERS.get("image_conv_rows")(dim=16).eval()
    pixels = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(tok(pixels).embeddings[2:3], tok(pixels[2:3]).embeddings)


def test_wrong_channels_or_width():
    tok = TOKENIZERS.get("image_conv_rows")(dim=16, in_channels=3, image_size=(8, 8))
    with pytest.raises(InputError, match="3 channels"):
        tok(torch.rand(1, 1, 8, 8))
    with pytest.raises(InputError, match="width"):
        tok(torch.rand(1, 3, 8, 9))
    with pytest.raises(InputError, match="pixels"):
        tok(torch.rand(8, 8))
