"""``image_conv_rows``: a small convolution stem and one token per image row (small images).

The digits-av recipe for 8×8 digits: linear patch or row tokens fell short of the target;
one 3×3 convolution with a GELU before the row projection reached it. It consumes the
image modality's batch (``ImageBatch.pixels [B, C, H, W]``) or a raw ``[B, C, H, W]`` tensor.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from polymodal.encoder.positions import interpolate_positions
from polymodal.errors import InputError
from polymodal.modalities.base import TOKENIZERS, Tokenizer
from polymodal.tokens import Tokens

__all__ = ["ImageConvRowsTokenizer", "image_pixels"]


def image_pixels(batch: Any) -> Tensor:
    """``[B, C, H, W]`` pixels of an ``ImageBatch``-like object (``.pixels``) or of a tensor."""
    pixels = getattr(batch, "pixels", batch)
    if not isinstance(pixels, Tensor) or pixels.ndim != 4 or not pixels.is_floating_point():
        raise InputError("batch.pixels", "a float tensor [B, C, H, W]", pixels)
    return pixels


@TOKENIZERS.register("image_conv_rows")
class ImageConvRowsTokenizer(Tokenizer):
    """3×3 conv (``channels``) + GELU, then each row ``[channels * W]`` → Linear → D, + learned positions.

    Args:
        dim: token width D.
        in_channels: image channels C (1 for the digits).
        image_size: ``(H, W)`` the row projection and positions are built for.
        channels: stem width (32 in the prototype).

    Inputs: ``ImageBatch`` (``.pixels [B, C, H, W]``) or a ``[B, C, H, W]`` tensor; W must
    equal ``image_size[1]``; other heights interpolate the row positions.

    Returns: Tokens ``[B, H, D]``, all real (8 tokens for an 8×8 digit).
    """

    modality = "image"

    def __init__(self, dim: int = 768, *, in_channels: int = 1, image_size: tuple[int, int] = (8, 8), channels: int = 32) -> None:
        super().__init__()
        self.dim, self.in_channels = dim, in_channels
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.conv = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1)
        self.act = nn.GELU()
        self.proj = nn.Linear(channels * self.image_size[1], dim)
        self.pos_embed = nn.Parameter(torch.randn(1, self.image_size[0], dim) * 0.02)

    def forward(self, batch: Any) -> Tokens:
        x = image_pixels(batch)
        b, c, h, w = x.shape
        if c != self.in_channels:
            raise InputError("batch.pixels", f"{self.in_channels} channels", f"{c} channels")
        if w != self.image_size[1]:
            raise InputError("batch.pixels", f"image width {self.image_size[1]}", f"width {w}")
        feats = self.act(self.conv(x))  # [B, channels, H, W]
        rows = feats.permute(0, 2, 1, 3).reshape(b, h, -1)  # [B, H, channels*W]
        pos = self.pos_embed[0] if h == self.image_size[0] else interpolate_positions(self.pos_embed[0], h)
        return Tokens.dense(self.proj(rows) + pos, self.modality)
