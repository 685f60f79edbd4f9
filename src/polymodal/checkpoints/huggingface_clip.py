"""Hugging Face CLIP (``CLIPModel``) → :class:`DualEncoder`.

CLIP's text tower is pre-norm with causal attention and pools the EOS token (the last
real token, ``pool="last"``); its embeddings have no segments and no LayerNorm. The vision
tower has a bias-free patch projection, ``pre_layrnorm`` (the encoder's ``input_norm``)
and ``post_layernorm`` on the pooled CLS token (the encoder's final norm, then CLS
pooling). As for ViT, the CLS position is folded into the encoder's ``cls_token``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from polymodal.checkpoints.huggingface import CONVERTERS, KeyTaker, hf_activation, require
from polymodal.checkpoints.huggingface_vit import vit_preprocessing
from polymodal.modalities.image import CLIP_MEAN, CLIP_STD

__all__ = ["convert_clip"]

SOURCE = "Hugging Face CLIP"


def _layers(src: KeyTaker, theirs: str, ours: str, depth: int, out: dict[str, Tensor]) -> None:
    for i in range(depth):
        h, p = f"{theirs}.encoder.layers.{i}.", f"{ours}.encoder.blocks.{i}."
        for kind in ("weight", "bias"):
            out[p + f"attn.qkv.{kind}"] = src.cat(h + f"self_attn.{n}_proj.{kind}" for n in "qkv")
            out[p + f"attn.proj.{kind}"] = src.take(h + f"self_attn.out_proj.{kind}")
            out[p + f"norm1.{kind}"] = src.take(h + f"layer_norm1.{kind}")
            out[p + f"norm2.{kind}"] = src.take(h + f"layer_norm2.{kind}")
            out[p + f"mlp.fc1.{kind}"] = src.take(h + f"mlp.fc1.{kind}")
            out[p + f"mlp.fc2.{kind}"] = src.take(h + f"mlp.fc2.{kind}")


def _encoder(cfg: Mapping[str, Any], *, cls_token: bool, input_norm: bool, pool: str) -> dict[str, Any]:
    return {
        "dim": int(require(cfg, "hidden_size", SOURCE)),
        "depth": int(require(cfg, "num_hidden_layers", SOURCE)),
        "num_heads": int(require(cfg, "num_attention_heads", SOURCE)),
        "mlp_hidden_dim": int(require(cfg, "intermediate_size", SOURCE)),
        "activation": hf_activation(cfg.get("hidden_act", "quick_gelu"), SOURCE),
        "norm_first": True,
        "layer_norm_eps": float(cfg.get("layer_norm_eps", 1e-5)),
        "cls_token": cls_token,
        "positions": "none",
        "input_norm": input_norm,
        "final_norm": True,
        "pool": pool,
    }


@CONVERTERS.register("clip")
def convert_clip(
    state: Mapping[str, Tensor], config: Mapping[str, Any], files: Mapping[str, Any] | None = None
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Convert a ``CLIPModel`` state dict and ``config.json`` to a polymodal ``dual_encoder``."""
    files = files or {}
    text_cfg = dict(require(config, "text_config", SOURCE))
    vision_cfg = dict(require(config, "vision_config", SOURCE))
    src = KeyTaker(state, SOURCE, ignore=("position_ids",))
    out: dict[str, Tensor] = {}

    out["text.embeddings.word_embeddings.weight"] = src.take("text_model.embeddings.token_embedding.weight")
    out["text.embeddings.position_embeddings.weight"] = src.take("text_model.embeddings.position_embedding.weight")
    _layers(src, "text_model", "text", int(text_cfg["num_hidden_layers"]), out)
    out["text.encoder.norm.weight"] = src.take("text_model.final_layer_norm.weight")
    out["text.encoder.norm.bias"] = src.take("text_model.final_layer_norm.bias")

    positions = src.take("vision_model.embeddings.position_embedding.weight")  # [1 + N, D]
    cls = src.take("vision_model.embeddings.class_embedding")  # [D]
    out["vision.encoder.cls_token"] = (cls + positions[0])[None, None]
    out["vision.patch_embed.pos_embed.pos_embed"] = positions[1:][None].clone()
    out["vision.patch_embed.proj.weight"] = src.take("vision_model.embeddings.patch_embedding.weight")
    out["vision.encoder.norm_pre.weight"] = src.take("vision_model.pre_layrnorm.weight")
    out["vision.encoder.norm_pre.bias"] = src.take("vision_model.pre_layrnorm.bias")
    _layers(src, "vision_model", "vision", int(vision_cfg["num_hidden_layers"]), out)
    out["vision.encoder.norm.weight"] = src.take("vision_model.post_layernorm.weight")
    out["vision.encoder.norm.bias"] = src.take("vision_model.post_layernorm.bias")

    out["text_projection.weight"] = src.take("text_projection.weight")
    out["visual_projection.weight"] = src.take("visual_projection.weight")
    out["logit_scale"] = src.take("logit_scale")
    src.finish()

    text_dim = int(text_cfg["hidden_size"])
    image_size = int(vision_cfg.get("image_size", 224))
    preprocessing = vit_preprocessing(files.get("preprocessor_config.json"), image_size)
    if "preprocessor_config.json" not in files:  # CLIP's own statistics and resize
        preprocessing.update(size=image_size, crop=image_size, mean=list(CLIP_MEAN), std=list(CLIP_STD), resize="shortest", interpolation="bicubic")
    return out, {
        "model_type": "dual_encoder",
        "text": {
            "embeddings": {
                "vocab_size": int(require(text_cfg, "vocab_size", SOURCE)),
                "dim": text_dim,
                "max_positions": int(text_cfg.get("max_position_embeddings", 77)),
                "type_vocab_size": 0,
                "norm": False,
                "layer_norm_eps": float(text_cfg.get("layer_norm_eps", 1e-5)),
                "dropout": 0.0,
            },
            "encoder": _encoder(text_cfg, cls_token=False, input_norm=False, pool="last"),
            "pooling": "last",
            "pooler": False,
            "causal": True,
            "normalize": False,
            "text": {},
        },
        "vision": {
            "patch_embed": {
                "in_channels": int(vision_cfg.get("num_channels", 3)),
                "dim": int(vision_cfg["hidden_size"]),
                "patch_size": int(vision_cfg.get("patch_size", 32)),
                "image_size": [image_size, image_size],
                "positions": True,
                "norm": False,
                "bias": False,
                "layer_norm_eps": float(vision_cfg.get("layer_norm_eps", 1e-5)),
            },
            "encoder": _encoder(vision_cfg, cls_token=True, input_norm=True, pool="cls"),
            "preprocessing": preprocessing,
            "pooler": False,
            "use_pooler": False,
        },
        "projection_dim": int(config.get("projection_dim", 512)),
        "projection_bias": False,
        "logit_scale_init": float(config.get("logit_scale_init_value", 2.6592)),
    }
