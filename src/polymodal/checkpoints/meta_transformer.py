"""Meta-Transformer's released encoder (a stack of timm ViT blocks) → :class:`TransformerEncoder`.

Zhang et al. (2023), "Meta-Transformer: A Unified Framework for Multimodal Learning",
release the shared encoder as a bare ``nn.Sequential`` of timm blocks (keys
``0.norm1.weight``, ``0.attn.qkv.weight``, ...) or with a ``blocks.`` prefix. polymodal's
blocks use timm's names, so conversion is a prefix rename: ``encoder.blocks.N.*``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from polymodal.checkpoints.io import apply_state_dict, load_state_dict
from polymodal.encoder import EncoderConfig, TransformerEncoder
from polymodal.errors import CheckpointError

__all__ = ["convert_meta_transformer", "load_meta_transformer_encoder"]

SOURCE = "Meta-Transformer encoder"
_BLOCK_KEY = re.compile(r"^(?:module\.)?(?:encoder\.)?(?:blocks\.)?(\d+)\.(norm1|attn\.qkv|attn\.proj|norm2|mlp\.fc1|mlp\.fc2)\.(weight|bias)$")
_NORM_KEY = re.compile(r"^(?:module\.)?(?:encoder\.)?norm\.(weight|bias)$")


def convert_meta_transformer(
    state: Mapping[str, Tensor], *, num_heads: int | None = None, prefix: str = "encoder."
) -> tuple[dict[str, Tensor], EncoderConfig]:
    """Rename timm block keys to ``{prefix}blocks.N.*`` and infer the encoder's config.

    Args:
        state: ``N.norm1.weight``/``blocks.N.norm1.weight`` keys (optionally ``norm.*``).
        num_heads: attention heads (not recorded in the weights); default ``dim // 64``,
            as ViT-B (12) and ViT-L (16) have.
        prefix: where the encoder lives in the target model (``""`` for a bare encoder).

    Returns:
        ``(state_dict, encoder_config)``: pre-norm, GELU, LayerNorm eps 1e-6, no CLS
        token (Meta-Transformer's tokenizers supply every token), mean pooling.
    """
    out: dict[str, Tensor] = {}
    unknown = []
    for key, value in state.items():
        block, norm = _BLOCK_KEY.match(key), _NORM_KEY.match(key)
        if block:
            out[f"{prefix}blocks.{block.group(1)}.{block.group(2)}.{block.group(3)}"] = value
        elif norm:
            out[f"{prefix}norm.{norm.group(1)}"] = value
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(sorted(unknown)[:8])
        raise CheckpointError(SOURCE, "only timm block keys (N.norm1, N.attn.qkv, ...) and norm.*", f"{len(unknown)} unexpected: {shown}")
    indices = sorted({int(k[len(prefix):].split(".")[1]) for k in out if k[len(prefix):].startswith("blocks.")})
    if not indices or indices != list(range(len(indices))):
        raise CheckpointError(SOURCE, "blocks numbered 0..depth-1", indices[:8])
    dim = out[f"{prefix}blocks.0.norm1.weight"].shape[0]
    hidden = out[f"{prefix}blocks.0.mlp.fc1.weight"].shape[0]
    config = EncoderConfig(
        dim=dim,
        depth=len(indices),
        num_heads=num_heads or max(dim // 64, 1),
        mlp_hidden_dim=hidden,
        activation="gelu",
        norm_first=True,
        layer_norm_eps=1e-6,
        cls_token=False,
        positions="none",
        final_norm=f"{prefix}norm.weight" in out,
        pool="mean",
    )
    return out, config


def load_meta_transformer_encoder(path: str | Path, *, num_heads: int | None = None) -> TransformerEncoder:
    """A :class:`TransformerEncoder` with Meta-Transformer's weights from ``path`` (.pth/.safetensors), loaded strictly."""
    state, config = convert_meta_transformer(load_state_dict(path), num_heads=num_heads, prefix="")
    encoder = TransformerEncoder(config)
    apply_state_dict(encoder, state, strict=True, source=str(path))
    return encoder.eval()
