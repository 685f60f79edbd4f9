"""Tiny captioners and contexts shared by the captioner and generation tests."""

import torch

from polymodal.models import Captioner, CaptionerConfig
from polymodal.tokens import Tokens

PAD, BOS, EOS = 0, 1, 2


def tiny(vocab: int = 23, **kw) -> Captioner:
    torch.manual_seed(0)
    model = Captioner(CaptionerConfig(vocab_size=vocab, dim=32, depth=2, num_heads=4, max_length=24, **kw))
    # Scale up the tied embeddings so a random model is confident and rarely ends at once.
    with torch.no_grad():
        model.token_embed.weight.mul_(40.0)
        model.token_embed.weight[EOS].mul_(0.1)
    return model.eval()


def context(b: int = 3, m: int = 5, padded: bool = True) -> Tokens:
    g = torch.Generator().manual_seed(1)
    mask = torch.ones(b, m, dtype=torch.bool)
    if padded:
        mask[0, 3:] = False
    return Tokens(torch.randn(b, m, 32, generator=g), mask, "image")
