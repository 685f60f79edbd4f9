"""Hugging Face ViT (``ViTModel``, ``ViTForImageClassification``'s ``vit.``) → :class:`VisionEncoderModel`.

ViT adds a position to every token, the CLS token included. The CLS position is folded
into the encoder's ``cls_token`` (``cls + pos[0]``: the same float sum ViT computes at
run time) and the patch positions become the tokenizer's 2-D grid. Weights are accepted
under the names Hugging Face saves (``encoder.layer.N.attention.attention.query``) and
under transformers 5's in-memory names (``layers.N.attention.q_proj``), which a
``torch.save(model.state_dict())`` file carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from polymodal.checkpoints.huggingface import CONVERTERS, KeyTaker, hf_activation, require
from polymodal.errors import CheckpointError

__all__ = ["convert_vit", "convert_vit_blocks", "vit_encoder_config", "vit_preprocessing"]

SOURCE = "Hugging Face ViT"


def vit_preprocessing(preprocessor: Mapping[str, Any] | None, image_size: int) -> dict[str, Any]:
    """``preprocessor_config.json`` (ViTImageProcessor) → :class:`ImageTransform` options."""
    p = dict(preprocessor or {})
    size = p.get("size", image_size)
    if isinstance(size, Mapping):
        size = [int(size["height"]), int(size["width"])] if "height" in size else int(size.get("shortest_edge", image_size))
    crop = p.get("crop_size") if p.get("do_center_crop") else None
    if isinstance(crop, Mapping):
        crop = [int(crop["height"]), int(crop["width"])]
    return {
        "size": size,
        "crop": crop,
        "mean": list(p.get("image_mean", [0.5, 0.5, 0.5])),
        "std": list(p.get("image_std", [0.5, 0.5, 0.5])),
        # {"height", "width"} resizes exactly (ViT); {"shortest_edge"} keeps the aspect ratio (CLIP).
        "resize": "shortest" if isinstance(size, int) and "size" in p else "exact",
        # PIL's resample code 3 is bicubic; ViTImageProcessor's default is bilinear (2).
        "interpolation": "bicubic" if p.get("resample", 2) == 3 else "bilinear",
    }


def convert_vit_blocks(src: KeyTaker, depth: int, dim: int, *, qkv_bias: bool = True) -> dict[str, Tensor]:
    """ViT-family layers (ViT, DeiT, AST) and the final LayerNorm → ``encoder.*`` keys.

    Takes Hugging Face's saved names (``encoder.layer.N.attention.attention.query``) or
    transformers 5's in-memory ones (``layers.N.attention.q_proj``).
    """
    out: dict[str, Tensor] = {}
    for i in range(depth):
        old, new, p = f"encoder.layer.{i}.", f"layers.{i}.", f"encoder.blocks.{i}."
        for kind in ("weight", "bias"):
            if kind == "bias" and not qkv_bias:
                out[p + "attn.qkv.bias"] = torch.zeros(3 * dim)  # adding zero is exact
            else:
                out[p + f"attn.qkv.{kind}"] = torch.cat(
                    [
                        src.take_any(old + f"attention.attention.{a}.{kind}", new + f"attention.{b}_proj.{kind}")
                        for a, b in (("query", "q"), ("key", "k"), ("value", "v"))
                    ]
                )
            out[p + f"attn.proj.{kind}"] = src.take_any(old + f"attention.output.dense.{kind}", new + f"attention.o_proj.{kind}")
            out[p + f"norm1.{kind}"] = src.take_any(old + f"layernorm_before.{kind}", new + f"layernorm_before.{kind}")
            out[p + f"norm2.{kind}"] = src.take_any(old + f"layernorm_after.{kind}", new + f"layernorm_after.{kind}")
            out[p + f"mlp.fc1.{kind}"] = src.take_any(old + f"intermediate.dense.{kind}", new + f"mlp.fc1.{kind}")
            out[p + f"mlp.fc2.{kind}"] = src.take_any(old + f"output.dense.{kind}", new + f"mlp.fc2.{kind}")
    out["encoder.norm.weight"] = src.take("layernorm.weight")
    out["encoder.norm.bias"] = src.take("layernorm.bias")
    return out


def vit_encoder_config(config: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A ViT-family ``config.json`` → the :class:`EncoderConfig` of its pre-norm, CLS-pooled stack."""
    return {
        "dim": int(require(config, "hidden_size", source)),
        "depth": int(require(config, "num_hidden_layers", source)),
        "num_heads": int(require(config, "num_attention_heads", source)),
        "mlp_hidden_dim": int(require(config, "intermediate_size", source)),
        "activation": hf_activation(config.get("hidden_act", "gelu"), source),
        "norm_first": True,
        "layer_norm_eps": float(config.get("layer_norm_eps", 1e-12)),
        "cls_token": True,
        "positions": "none",
        "final_norm": True,
        "pool": "cls",
    }


@CONVERTERS.register("vit")
def convert_vit(
    state: Mapping[str, Tensor], config: Mapping[str, Any], files: Mapping[str, Any] | None = None
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Convert a ViT state dict and ``config.json`` to a polymodal ``vision_encoder``.

    Returns:
        ``(state_dict, config)`` for :class:`~polymodal.models.vision_model.VisionEncoderModel`.
    """
    files = files or {}
    src = KeyTaker(state, SOURCE, prefixes=("vit.",))
    depth = int(require(config, "num_hidden_layers", SOURCE))
    dim = int(require(config, "hidden_size", SOURCE))
    image_size = int(config.get("image_size", 224))
    patch = int(config.get("patch_size", 16))
    if config.get("pooler_act", "tanh") != "tanh" or int(config.get("pooler_output_size") or dim) != dim:
        raise CheckpointError(f"{SOURCE}: pooler", "a tanh pooler of the hidden width", config.get("pooler_act"))
    out: dict[str, Tensor] = {}
    positions = src.take("embeddings.position_embeddings")  # [1, 1 + N, D]
    out["encoder.cls_token"] = src.take("embeddings.cls_token") + positions[:, :1]
    out["patch_embed.pos_embed.pos_embed"] = positions[:, 1:].clone()
    out["patch_embed.proj.weight"] = src.take("embeddings.patch_embeddings.projection.weight")
    out["patch_embed.proj.bias"] = src.take("embeddings.patch_embeddings.projection.bias")
    out.update(convert_vit_blocks(src, depth, dim, qkv_bias=bool(config.get("qkv_bias", True))))
    has_pooler = src.has("pooler.dense.weight")
    if has_pooler:
        out["pooler.weight"] = src.take("pooler.dense.weight")
        out["pooler.bias"] = src.take("pooler.dense.bias")
    src.finish()

    eps = float(config.get("layer_norm_eps", 1e-12))
    return out, {
        "model_type": "vision_encoder",
        "patch_embed": {
            "in_channels": int(config.get("num_channels", 3)),
            "dim": dim,
            "patch_size": patch,
            "image_size": [image_size, image_size],
            "positions": True,
            "norm": False,
            "bias": True,
            "layer_norm_eps": eps,
        },
        "encoder": vit_encoder_config(config, SOURCE),
        "preprocessing": vit_preprocessing(files.get("preprocessor_config.json"), image_size),
        "pooler": has_pooler,
        "use_pooler": False,
    }
