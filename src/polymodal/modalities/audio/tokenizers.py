"""Audio tokenizers: AST's overlapping spectrogram patches, and a small 1-D conv stem.

Both zero every frame past a clip's end before and after their convolutions, so a clip
gives the same tokens alone as in a padded batch.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.encoder.positions import interpolate_positions, interpolate_positions_2d
from polymodal.errors import InputError
from polymodal.modalities.audio.batch import AudioBatch
from polymodal.modalities.base import TOKENIZERS, Tokenizer
from polymodal.tokens import Tokens

__all__ = ["AudioPatchTokenizer", "AudioConvTokenizer"]


def _check_batch(batch: AudioBatch, bins: int) -> None:
    if not isinstance(batch, AudioBatch):
        raise InputError("batch", "an AudioBatch (collate_audio)", type(batch).__name__)
    if batch.features.ndim != 3 or batch.features.shape[2] != bins:
        raise InputError("batch.features", f"[B, T, {bins}] log-Mel frames", batch.features)


@TOKENIZERS.register("audio_patch")
class AudioPatchTokenizer(Tokenizer):
    """AST's patch embedding: 16×16 patches with stride 10 over (frequency × time).

    Args:
        dim: token width D (AST/ViT-B: 768).
        num_mel_bins: F, the frequency axis (128).
        patch_size, stride: square patch and its step (AST: 16 and 10, i.e. overlap 6).
        max_frames: time length the position grid is built for (AST: 1024 frames); shorter
            clips use the grid's first columns, longer ones interpolate it (then padding
            invariance holds only up to this length).
        edge: ``"cover"``: time patches until one covers the clip's end (every patch starts
            inside the clip, the last reads zeros past it), ``t(L) = 1 + ceil(max(L - 16, 0) / 10)``;
            ``"drop"``: only patches that fit inside the clip, as AST's convolution does,
            ``t(L) = 1 + (L - 16) // 10`` (at least 1): use it with AST weights
            (1024 frames → 101 columns, 12 × 101 = 1212 tokens).

    Inputs: :class:`AudioBatch` ``features [B, T, F]``, ``lengths [B]``.

    Returns: Tokens ``[B, f * t, D]`` in AST's order (frequency-major, ``f = (F - 16) // 10 + 1``,
    12 for 128 bins) with ``t(L)`` real time columns for a clip of ``L`` frames.
    """

    modality = "audio"

    def __init__(
        self,
        dim: int = 768,
        *,
        num_mel_bins: int = 128,
        patch_size: int = 16,
        stride: int = 10,
        max_frames: int = 1024,
        edge: Literal["cover", "drop"] = "cover",
    ) -> None:
        super().__init__()
        if edge not in ("cover", "drop"):
            raise InputError("edge", "'cover' or 'drop'", repr(edge))
        self.edge = edge
        if num_mel_bins < patch_size:
            raise InputError("num_mel_bins", f"at least patch_size={patch_size}", num_mel_bins)
        self.dim, self.num_mel_bins, self.patch_size, self.stride = dim, num_mel_bins, patch_size, stride
        self.max_frames = max_frames
        self.proj = nn.Conv2d(1, dim, kernel_size=patch_size, stride=stride)
        self.freq_patches = (num_mel_bins - patch_size) // stride + 1
        self.time_patches = self.num_time_patches(max_frames)
        self.pos_embed = nn.Parameter(torch.randn(1, self.freq_patches * self.time_patches, dim) * 0.02)

    def num_time_patches(self, frames: int) -> int:
        if self.edge == "drop":
            return 1 + max(frames - self.patch_size, 0) // self.stride
        return 1 + math.ceil(max(frames - self.patch_size, 0) / self.stride)

    def positions(self, time_patches: int) -> Tensor:
        """``[f * t, D]`` positions for ``t`` time columns (sliced, or interpolated if longer)."""
        grid = self.pos_embed[0].view(self.freq_patches, self.time_patches, self.dim)
        if time_patches <= self.time_patches:
            return grid[:, :time_patches].reshape(-1, self.dim)
        table = interpolate_positions_2d(self.pos_embed[0], (self.freq_patches, self.time_patches), (self.freq_patches, time_patches))
        return table

    def forward(self, batch: AudioBatch) -> Tokens:
        _check_batch(batch, self.num_mel_bins)
        x = batch.features * batch.mask[..., None].to(batch.features.dtype)  # zero past each end
        real_t = torch.tensor([self.num_time_patches(int(n)) for n in batch.lengths.tolist()], device=x.device)
        t = int(real_t.max())
        need = (t - 1) * self.stride + self.patch_size
        x = F.pad(x, (0, 0, 0, max(need - x.shape[1], 0)))[:, :need]  # [B, need, F]
        x = x.transpose(1, 2).unsqueeze(1)  # [B, 1, F, T]: AST's (frequency, time) image
        patches = self.proj(x)  # [B, D, f, t]
        emb = patches.flatten(2).transpose(1, 2) + self.positions(t)  # [B, f*t, D]
        time_mask = torch.arange(t, device=x.device)[None, :] < real_t[:, None]  # [B, t]
        mask = time_mask[:, None, :].expand(-1, self.freq_patches, -1).reshape(x.shape[0], -1)
        return Tokens(emb, mask, self.modality)


@TOKENIZERS.register("audio_conv")
class AudioConvTokenizer(Tokenizer):
    """A small 1-D convolution stem over frames, then one token per ``frames_per_token`` frames.

    The digits-av recipe: 32 fixed frames → conv(k=3) + GELU → groups of 4 frames → 8 tokens.
    A plain linear grouping of frames fell short there; the non-linear stem closes the gap.

    Args:
        dim: token width D.
        num_mel_bins: input bins F.
        channels: stem width.
        kernel_size: stem kernel along time (odd, 'same' padding).
        frames_per_token: k, frames merged into one token.
        max_tokens: learned positions; longer inputs interpolate them.

    Inputs: :class:`AudioBatch` ``features [B, T, F]``, ``lengths [B]``.

    Returns: Tokens ``[B, ceil(T / k), D]``; a clip of ``L`` frames has ``ceil(L / k)`` real tokens.
    """

    modality = "audio"

    def __init__(
        self,
        dim: int = 768,
        *,
        num_mel_bins: int = 128,
        channels: int = 64,
        kernel_size: int = 3,
        frames_per_token: int = 4,
        max_tokens: int = 8,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise InputError("kernel_size", "an odd kernel (same padding)", kernel_size)
        self.dim, self.num_mel_bins, self.frames_per_token = dim, num_mel_bins, frames_per_token
        self.conv = nn.Conv1d(num_mel_bins, channels, kernel_size, padding=kernel_size // 2)
        self.act = nn.GELU()
        self.proj = nn.Linear(channels * frames_per_token, dim)
        self.pos_embed = nn.Parameter(torch.randn(1, max_tokens, dim) * 0.02)

    def forward(self, batch: AudioBatch) -> Tokens:
        _check_batch(batch, self.num_mel_bins)
        k = self.frames_per_token
        b, t, _ = batch.features.shape
        n = math.ceil(t / k)
        frame_mask = batch.mask
        frame_mask = F.pad(frame_mask, (0, n * k - t))  # [B, n*k]
        x = F.pad(batch.features, (0, 0, 0, n * k - t)) * frame_mask[..., None]
        h = self.act(self.conv(x.transpose(1, 2))).transpose(1, 2)  # [B, n*k, C]
        h = h * frame_mask[..., None]  # frames past the end would carry the conv bias
        emb = self.proj(h.reshape(b, n, -1))  # [B, n, D]
        pos = self.pos_embed[0]
        if n > pos.shape[0]:
            pos = interpolate_positions(pos, n)
        emb = emb + pos[:n]
        lengths = batch.lengths.to(emb.device)
        mask = torch.arange(n, device=emb.device)[None, :] * k < lengths[:, None]
        return Tokens(emb, mask, self.modality)
