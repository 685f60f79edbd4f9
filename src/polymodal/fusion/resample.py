"""Resampling token sequences to a common length, for element-wise (early summation) fusion.

Rule, per sample: the real tokens of each modality are taken in order (padding removed)
and linearly interpolated along the token axis to ``L_b``, the largest real length of any
modality present in that sample; interpolation uses aligned end points (the first and last
real tokens map to the first and last output tokens). Outputs are left-aligned, padded to
``max_b L_b``. Doing this per sample on real tokens only keeps the result independent of
how much padding a batch happens to carry.
"""

from __future__ import annotations

import torch
from torch import Tensor

from polymodal.tokens import Tokens

__all__ = ["compact", "resample_to"]


def compact(tokens: Tokens) -> Tensor:
    """``[B, N, D]`` with each row's real tokens moved to the front, in order (stable)."""
    order = torch.argsort((~tokens.mask).to(torch.int8), dim=1, stable=True)  # real first
    return tokens.embeddings.gather(1, order[..., None].expand_as(tokens.embeddings))


def resample_to(tokens: Tokens, lengths: Tensor, length: int) -> Tensor:
    """Linearly interpolate each row's real tokens to ``lengths[b]`` tokens.

    Args:
        tokens: ``[B, N, D]`` with mask; a row with no real token yields zeros.
        lengths: ``[B]`` target real lengths ``L_b`` (≥ the row's real length in use).
        length: output length ``max_b L_b``.

    Returns:
        ``[B, length, D]``; positions ``t ≥ L_b`` are zeros.
    """
    x = compact(tokens)  # [B, N, D]
    b, n, _ = x.shape
    src_len = tokens.lengths  # [B]
    t = torch.arange(length, device=x.device, dtype=x.dtype)[None, :].expand(b, length)  # [B, L]
    scale = (src_len - 1).clamp_min(0).to(x.dtype) / (lengths - 1).clamp_min(1).to(x.dtype)
    pos = t * scale[:, None]
    # When lengths already agree, use the exact positions so that aligned inputs pass unchanged.
    pos = torch.where((src_len == lengths)[:, None], t, pos)
    lo = pos.floor().long().clamp(0, max(n - 1, 0))
    hi = (lo + 1).clamp(max=(src_len - 1).clamp_min(0)[:, None])
    frac = (pos - lo.to(x.dtype)).clamp(0.0, 1.0)[..., None]
    gather = lambda idx: x.gather(1, idx[..., None].expand(b, length, x.shape[-1]))  # noqa: E731
    out = gather(lo) * (1 - frac) + gather(hi) * frac
    valid = (t < lengths[:, None].to(x.dtype)) & (src_len > 0)[:, None]
    return out * valid[..., None].to(x.dtype)
