"""Tiny fusion configs and token batches shared by the fusion tests (imported by name)."""

from __future__ import annotations

import torch

from polymodal.fusion import build_fusion
from polymodal.tokens import Tokens

DIM = 16


def tiny(name: str, modalities=("a", "b"), **overrides):
    """A registered strategy at width 16, two heads, default (one- or two-layer) depths, eval mode."""
    return build_fusion(name, {"modalities": list(modalities), "dim": DIM, "num_heads": 2, **overrides}).eval()


def tokens(name: str, lengths: list[int], n: int | None = None, requires_grad: bool = False) -> Tokens:
    """Random Tokens with ``lengths[b]`` real tokens per sample, padded to ``n`` (default: max)."""
    n = n or max(lengths)
    emb = torch.randn(len(lengths), n, DIM)
    mask = torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]
    emb = emb.requires_grad_(requires_grad)
    return Tokens(emb, mask, name)
