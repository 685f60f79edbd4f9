"""Multi-head attention on ``torch.nn.functional.scaled_dot_product_attention``.

One module serves self-attention (``attn.qkv`` as timm names it, so that ViT and
Meta-Transformer weights load by a rename) and cross-attention (``q`` + ``kv``).
Masks follow one convention throughout polymodal: a bool ``key_padding_mask [B, M]`` is
``True`` for real keys; an optional float ``attn_bias`` is added to the logits; ``causal``
stops a query from seeing later keys. A query row with no visible key at all (a missing
modality, or left padding under a causal mask) returns zeros instead of SDPA's NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.errors import InputError

__all__ = ["Attention", "KVCache", "build_attention_mask", "use_matmul_attention"]


@dataclass
class KVCache:
    """Keys and values kept between decoding steps, each ``[B, H, T, head_dim]``.

    For self-attention every step appends the new token's keys and values, so step t
    costs O(t) instead of recomputing O(t²). For cross-attention the context's keys and
    values are computed once and reused (``static=True``).
    """

    key: Tensor | None = None
    value: Tensor | None = None
    static: bool = False

    @property
    def length(self) -> int:
        return 0 if self.key is None else self.key.shape[2]

    def reorder(self, index: Tensor) -> None:
        """Reorder the batch (beam search keeps the beams it selected)."""
        if self.key is not None:
            self.key = self.key.index_select(0, index)
            self.value = self.value.index_select(0, index)


def build_attention_mask(
    batch: int,
    q_len: int,
    k_len: int,
    *,
    key_padding_mask: Tensor | None = None,
    attn_bias: Tensor | None = None,
    causal: bool = False,
    causal_offset: int = 0,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor | None, Tensor | None]:
    """Combine padding, causal and bias masks into one SDPA ``attn_mask``.

    Args:
        key_padding_mask: ``[B, M]`` bool, True = real key.
        attn_bias: ``[B or 1, H or 1, N, M]`` additive float bias.
        causal: query i sees keys ``j <= i + causal_offset`` (offset = cached length).

    Returns:
        ``(mask, empty_rows)``: ``mask`` is None (no masking), a bool ``[B|1, 1, N, M]``
        (True = may attend) or a float ``[B|1, H|1, N, M]`` bias; ``empty_rows`` is a bool
        ``[B|1, 1, N, 1]`` marking query rows with no visible key (their output must be
        zero), or None when there are none.
    """
    allowed: Tensor | None = None
    if key_padding_mask is not None:
        allowed = key_padding_mask[:, None, None, :]  # [B, 1, 1, M]
    if causal:
        q_pos = torch.arange(q_len, device=device)[:, None] + causal_offset
        k_pos = torch.arange(k_len, device=device)[None, :]
        causal_allowed = (k_pos <= q_pos)[None, None]  # [1, 1, N, M]
        allowed = causal_allowed if allowed is None else allowed & causal_allowed
    empty_rows = None
    if allowed is not None:
        empty = ~allowed.any(dim=-1, keepdim=True)  # [B|1, 1, N|1, 1]
        # Compiled graphs take the general path: checking would split the graph per layer.
        if torch.compiler.is_compiling() or bool(empty.any()):
            empty_rows = empty
            # Let empty rows attend everywhere so SDPA stays finite; they are zeroed after.
            allowed = allowed | empty
    if attn_bias is None:
        return allowed, empty_rows
    bias = attn_bias.to(dtype)
    if allowed is not None:
        bias = bias.masked_fill(~allowed, float("-inf"))
    return bias, empty_rows


def use_matmul_attention(q: Tensor, k_len: int) -> bool:
    """Whether plain matmul attention is faster than SDPA for these queries on this device.

    Measured on a CPU (one thread, 256 sequences, 12 heads of 32; process CPU time): in
    bf16, SDPA's backward is 1.8x (9 keys), 8x (17 keys) and 3.5x (65 keys) slower than
    matmul + softmax, and its forward is slower up to ~16 keys; in float32 SDPA wins
    everywhere. Short low-precision sequences are what a frozen shared encoder sees when
    tokenizers emit a few tokens per sample and are trained through it.
    """
    if q.device.type != "cpu" or q.dtype not in (torch.bfloat16, torch.float16):
        return False
    if k_len <= 16:
        return True
    return torch.is_grad_enabled() and q.requires_grad and k_len <= 256


class Attention(nn.Module):
    """Multi-head attention, self (``qkv``) or cross (``q`` + ``kv``), with an output ``proj``.

    Args:
        dim: width of the queries and of the output.
        num_heads: number of heads; ``dim`` must divide by it.
        qkv_bias: biases on the query/key/value projections.
        attn_drop: dropout on the attention probabilities (training only).
        proj_drop: dropout after the output projection.
        cross: build a cross-attention module whose keys and values come from a context.
        context_dim: width of the context (cross-attention only; defaults to ``dim``).

    Inputs:
        x: ``[B, N, dim]`` queries (and keys/values for self-attention).
        context: ``[B, M, context_dim]`` keys/values source (cross-attention).
        key_padding_mask: ``[B, M]`` bool, True = real key.
        attn_bias: ``[B, H or 1, N, M]`` additive float bias.
        causal: mask later keys (self-attention).
        need_weights: also return the attention probabilities ``[B, H, N, M]``.
        cache: a :class:`KVCache` to read and extend (incremental decoding).

    Returns:
        ``(out [B, N, dim], weights [B, H, N, M] or None)``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        cross: bool = False,
        context_dim: int | None = None,
    ) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise InputError("num_heads", f"a divisor of dim={dim}", num_heads)
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.cross = cross
        if cross:
            self.q = nn.Linear(dim, dim, bias=qkv_bias)
            self.kv = nn.Linear(context_dim or dim, 2 * dim, bias=qkv_bias)
        else:
            self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)  # [B, H, N, hd]

    def _project(self, x: Tensor, context: Tensor | None, cache: KVCache | None) -> tuple[Tensor, Tensor, Tensor]:
        if not self.cross:
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            q, k, v = self._heads(q), self._heads(k), self._heads(v)
            if cache is not None:
                if cache.key is not None:
                    k = torch.cat([cache.key, k], dim=2)
                    v = torch.cat([cache.value, v], dim=2)
                cache.key, cache.value = k, v
            return q, k, v
        q = self._heads(self.q(x))
        if cache is not None and cache.static and cache.key is not None:
            return q, cache.key, cache.value
        if context is None:
            raise InputError("context", "a [B, M, D] tensor for cross-attention", None)
        k, v = self.kv(context).chunk(2, dim=-1)
        k, v = self._heads(k), self._heads(v)
        if cache is not None:
            cache.key, cache.value, cache.static = k, v, True
        return q, k, v

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        key_padding_mask: Tensor | None = None,
        attn_bias: Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        if x.ndim != 3:
            raise InputError("x", "a [B, N, D] tensor", x)
        b, n, d = x.shape
        past = 0 if (cache is None or self.cross) else cache.length
        q, k, v = self._project(x, context, cache)
        m = k.shape[2]
        if key_padding_mask is not None and tuple(key_padding_mask.shape) != (b, m):
            raise InputError("key_padding_mask", f"a bool tensor of shape [{b}, {m}]", key_padding_mask)
        mask, empty_rows = build_attention_mask(
            b,
            n,
            m,
            key_padding_mask=key_padding_mask,
            attn_bias=attn_bias,
            causal=causal,
            causal_offset=past,
            device=x.device,
            dtype=q.dtype,
        )
        dropout = self.attn_drop if self.training else 0.0
        weights = None
        if need_weights or use_matmul_attention(q, m):
            logits = (q * self.scale) @ k.transpose(-2, -1)  # [B, H, N, M]
            if mask is not None:
                logits = logits.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else logits + mask
            # Softmax in float32, as SDPA computes it, so that bf16 stays accurate.
            probs = logits.float().softmax(dim=-1).to(q.dtype)
            if empty_rows is not None:
                probs = probs.masked_fill(empty_rows, 0.0)
            out = F.dropout(probs, dropout, self.training) @ v
            weights = probs if need_weights else None
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        out = out.transpose(1, 2).reshape(b, n, d)  # [B, N, H*hd]
        out = self.proj_drop(self.proj(out))
        if empty_rows is not None:
            # A query that may see no key receives no update at all (not the proj bias).
            out = out.masked_fill(empty_rows[:, 0], 0.0)
        return out, weights
