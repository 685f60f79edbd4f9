"""Transformer blocks: pre-norm (ViT, CLIP, Meta-Transformer) or post-norm (BERT).

Parameter names follow timm (``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``,
``mlp.fc1``, ``mlp.fc2``) so that timm-style checkpoints, Meta-Transformer's released
encoder among them, load by a prefix rename. A block may also carry cross-attention
(``norm_cross``, ``cross_attn``) for decoders and the survey's cross-attention fusion, and
may drop its self-attention (ViLBERT's co-attention layer has none).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from polymodal.encoder.attention import Attention, KVCache
from polymodal.errors import InputError

__all__ = ["Activation", "Mlp", "Block", "QuickGELU", "make_activation"]

Activation = Literal["gelu", "gelu_tanh", "quick_gelu", "relu"]


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``: the GELU approximation OpenAI's CLIP was trained with."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


def make_activation(name: Activation) -> nn.Module:
    if name == "gelu":
        return nn.GELU()
    if name == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    if name == "quick_gelu":
        return QuickGELU()
    if name == "relu":
        return nn.ReLU()
    raise InputError("activation", "one of gelu, gelu_tanh, quick_gelu, relu", repr(name))


class Mlp(nn.Module):
    """Two-layer feed-forward network ``fc2(drop(act(fc1(x))))``: ``[B, N, D] -> [B, N, D]``."""

    def __init__(self, dim: int, hidden_dim: int, activation: Activation = "gelu", dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = make_activation(activation)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """One transformer layer: [self-attention] → [cross-attention] → MLP, each residual.

    Args:
        dim: token width D.
        num_heads: attention heads.
        mlp_hidden_dim: MLP hidden width (ViT-B: 3072).
        activation: MLP non-linearity.
        norm_first: True = pre-norm ``x + f(norm(x))``; False = post-norm ``norm(x + f(x))`` (BERT).
        qkv_bias: biases on the q/k/v projections.
        dropout: dropout on residual branches; ``attn_dropout`` on attention probabilities.
        layer_norm_eps: LayerNorm epsilon (ViT 1e-12 in HF, timm 1e-6, CLIP 1e-5).
        self_attention: include self-attention (``norm1``/``attn``).
        cross_attention: include cross-attention to a context (``norm_cross``/``cross_attn``).
        context_dim: context width for cross-attention (defaults to ``dim``).

    Inputs:
        x: ``[B, N, D]``; mask ``[B, N]`` (True = real), used as the key padding mask.
        context, context_mask: ``[B, M, Dc]`` and ``[B, M]`` for cross-attention.
        attn_bias: additive ``[B, H|1, N, N]`` self-attention bias; causal: causal self-attention.

    Returns:
        ``(x [B, N, D], self-attention weights or None, cross-attention weights or None)``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_hidden_dim: int,
        *,
        activation: Activation = "gelu",
        norm_first: bool = True,
        qkv_bias: bool = True,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        layer_norm_eps: float = 1e-6,
        self_attention: bool = True,
        cross_attention: bool = False,
        context_dim: int | None = None,
    ) -> None:
        super().__init__()
        if not (self_attention or cross_attention):
            raise InputError("Block", "self_attention or cross_attention (or both)", "neither")
        self.norm_first = norm_first
        if self_attention:
            self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps)
            self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_dropout, proj_drop=dropout)
        else:
            self.attn = None
        if cross_attention:
            self.norm_cross = nn.LayerNorm(dim, eps=layer_norm_eps)
            self.cross_attn = Attention(
                dim,
                num_heads,
                qkv_bias=qkv_bias,
                attn_drop=attn_dropout,
                proj_drop=dropout,
                cross=True,
                context_dim=context_dim,
            )
        else:
            self.cross_attn = None
        self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.mlp = Mlp(dim, mlp_hidden_dim, activation, dropout)

    def _residual(self, x: Tensor, norm: nn.LayerNorm, branch) -> tuple[Tensor, Tensor | None]:
        if self.norm_first:
            out, weights = branch(norm(x))
            return x + out, weights
        out, weights = branch(x)
        return norm(x + out), weights

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        *,
        context: Tensor | None = None,
        context_mask: Tensor | None = None,
        attn_bias: Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
        cache: KVCache | None = None,
        cross_cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        self_weights = cross_weights = None
        if self.attn is not None:
            x, self_weights = self._residual(
                x,
                self.norm1,
                lambda h: self.attn(
                    h,
                    key_padding_mask=mask,
                    attn_bias=attn_bias,
                    causal=causal,
                    need_weights=need_weights,
                    cache=cache,
                ),
            )
        if self.cross_attn is not None:
            x, cross_weights = self._residual(
                x,
                self.norm_cross,
                lambda h: self.cross_attn(
                    h, context, key_padding_mask=context_mask, need_weights=need_weights, cache=cross_cache
                ),
            )
        x, _ = self._residual(x, self.norm2, lambda h: (self.mlp(h), None))
        return x, self_weights, cross_weights
