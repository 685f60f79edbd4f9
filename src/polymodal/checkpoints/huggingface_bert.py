"""Hugging Face BERT (``BertModel`` and sentence-transformers folders) → :class:`TextEncoderModel`.

BERT is post-norm: ``attention.output.LayerNorm`` is the block's ``norm1`` and
``output.LayerNorm`` its ``norm2``; query/key/value are concatenated into timm's ``qkv``.
The embedding LayerNorm becomes the text tokenizer's ``norm``; the encoder has no CLS
token of its own ([CLS] is a word token) and no final norm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from polymodal.checkpoints.huggingface import CONVERTERS, KeyTaker, hf_activation, require
from polymodal.errors import CheckpointError

__all__ = ["convert_bert"]

SOURCE = "Hugging Face BERT"


def _pooling(files: Mapping[str, Any], has_pooler: bool) -> str:
    st_pooling = files.get("1_Pooling/config.json")
    if st_pooling:
        if st_pooling.get("pooling_mode_mean_tokens"):
            return "mean"
        if st_pooling.get("pooling_mode_cls_token"):
            return "cls"
        raise CheckpointError(f"{SOURCE}: 1_Pooling/config.json", "mean or CLS pooling", dict(st_pooling))
    return "pooler" if has_pooler else "cls"


@CONVERTERS.register("bert")
def convert_bert(
    state: Mapping[str, Tensor], config: Mapping[str, Any], files: Mapping[str, Any] | None = None
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Convert a BERT state dict and ``config.json`` to a polymodal ``text_encoder``.

    Args:
        state: ``BertModel`` weights (a ``bert.`` prefix, as in ``BertForMaskedLM``, is stripped).
        config: the Hugging Face ``config.json`` content.
        files: other JSON files of the folder; sentence-transformers' ``1_Pooling/config.json``
            and ``modules.json`` select mean pooling and normalisation.

    Returns:
        ``(state_dict, config)`` for :class:`~polymodal.models.text_model.TextEncoderModel`.
    """
    files = files or {}
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise CheckpointError(f"{SOURCE}: position_embedding_type", "'absolute'", repr(config["position_embedding_type"]))
    src = KeyTaker(state, SOURCE, prefixes=("bert.",), ignore=("position_ids",))
    depth = int(require(config, "num_hidden_layers", SOURCE))
    dim = int(require(config, "hidden_size", SOURCE))
    out: dict[str, Tensor] = {}
    for ours, theirs in (
        ("word_embeddings.weight", "word_embeddings.weight"),
        ("position_embeddings.weight", "position_embeddings.weight"),
        ("token_type_embeddings.weight", "token_type_embeddings.weight"),
        ("norm.weight", "LayerNorm.weight"),
        ("norm.bias", "LayerNorm.bias"),
    ):
        out[f"embeddings.{ours}"] = src.take(f"embeddings.{theirs}")
    for i in range(depth):
        h, p = f"encoder.layer.{i}.", f"encoder.blocks.{i}."
        for kind in ("weight", "bias"):
            out[p + f"attn.qkv.{kind}"] = src.cat(h + f"attention.self.{n}.{kind}" for n in ("query", "key", "value"))
            out[p + f"attn.proj.{kind}"] = src.take(h + f"attention.output.dense.{kind}")
            out[p + f"norm1.{kind}"] = src.take(h + f"attention.output.LayerNorm.{kind}")
            out[p + f"mlp.fc1.{kind}"] = src.take(h + f"intermediate.dense.{kind}")
            out[p + f"mlp.fc2.{kind}"] = src.take(h + f"output.dense.{kind}")
            out[p + f"norm2.{kind}"] = src.take(h + f"output.LayerNorm.{kind}")
    has_pooler = src.has("pooler.dense.weight")
    if has_pooler:
        out["pooler.weight"] = src.take("pooler.dense.weight")
        out["pooler.bias"] = src.take("pooler.dense.bias")
    src.finish()

    eps = float(config.get("layer_norm_eps", 1e-12))
    modules = files.get("modules.json") or []  # sentence-transformers: a list of module records
    normalize = any("Normalize" in str(m.get("type", "")) for m in modules if isinstance(m, Mapping))
    polymodal_config = {
        "model_type": "text_encoder",
        "embeddings": {
            "vocab_size": int(require(config, "vocab_size", SOURCE)),
            "dim": dim,
            "max_positions": int(config.get("max_position_embeddings", 512)),
            "type_vocab_size": int(config.get("type_vocab_size", 2)),
            "norm": True,
            "layer_norm_eps": eps,
            "dropout": 0.0,
        },
        "encoder": {
            "dim": dim,
            "depth": depth,
            "num_heads": int(require(config, "num_attention_heads", SOURCE)),
            "mlp_hidden_dim": int(require(config, "intermediate_size", SOURCE)),
            "activation": hf_activation(config.get("hidden_act", "gelu"), SOURCE),
            "norm_first": False,
            "layer_norm_eps": eps,
            "cls_token": False,
            "positions": "none",
            "final_norm": False,
            "pool": "mean",
        },
        "pooling": _pooling(files, has_pooler),
        "pooler": has_pooler,
        "causal": False,
        "normalize": normalize,
        "text": {},
    }
    return out, polymodal_config
