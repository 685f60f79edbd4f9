"""Hugging Face AST (``ASTModel``, ``ASTForAudioClassification``'s ``audio_spectrogram_transformer.``) → :class:`AudioEncoderModel`.

AST is a DeiT over log-Mel patches: CLS and distillation tokens, then 16×16 patches with
stride 10 over (frequency × time), each with a learned position. The CLS and distillation
positions are folded into their tokens (the same float sums AST computes at run time),
the patch positions become the tokenizer's grid, and the layers convert as ViT's do.
``preprocessor_config.json`` (ASTFeatureExtractor) becomes the model's AudioTransform:
Kaldi filterbank, AST's fixed length and ``(x - mean) / (2 std)`` normalisation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from polymodal.checkpoints.huggingface import CONVERTERS, KeyTaker, require
from polymodal.checkpoints.huggingface_vit import convert_vit_blocks, vit_encoder_config
from polymodal.errors import CheckpointError

__all__ = ["ast_preprocessing", "convert_ast"]

SOURCE = "Hugging Face AST"


def ast_preprocessing(preprocessor: Mapping[str, Any] | None, num_mel_bins: int, max_length: int) -> dict[str, Any]:
    """``preprocessor_config.json`` (ASTFeatureExtractor) → :class:`AudioTransform` options."""
    p = dict(preprocessor or {})
    bins = int(p.get("num_mel_bins", num_mel_bins))
    if bins != num_mel_bins:
        raise CheckpointError(f"{SOURCE}: preprocessor_config.json", f"num_mel_bins={num_mel_bins} as the model", bins)
    normalize = bool(p.get("do_normalize", True))
    return {
        "sample_rate": int(p.get("sampling_rate", 16000)),
        "num_mel_bins": bins,
        # torchaudio's kaldi.fbank as ASTFeatureExtractor calls it: Hann window, 25/10 ms,
        # pre-emphasis 0.97, low_freq 20 Hz, high_freq at Nyquist.
        "window": "hann",
        "low_freq": 20.0,
        "mean": float(p.get("mean", -4.2677393)) if normalize else None,
        "std": float(p.get("std", 4.5689974)) if normalize else None,
        "std_scale": 2.0,
        "target_frames": int(p.get("max_length", max_length)),
    }


@CONVERTERS.register("audio-spectrogram-transformer")
def convert_ast(
    state: Mapping[str, Tensor], config: Mapping[str, Any], files: Mapping[str, Any] | None = None
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Convert an AST state dict and ``config.json`` to a polymodal ``audio_encoder``.

    Returns:
        ``(state_dict, config)`` for :class:`~polymodal.models.audio_model.AudioEncoderModel`.
    """
    files = files or {}
    src = KeyTaker(state, SOURCE, prefixes=("audio_spectrogram_transformer.",))
    depth = int(require(config, "num_hidden_layers", SOURCE))
    dim = int(require(config, "hidden_size", SOURCE))
    patch = int(config.get("patch_size", 16))
    f_stride, t_stride = int(config.get("frequency_stride", 10)), int(config.get("time_stride", 10))
    if f_stride != t_stride:
        raise CheckpointError(f"{SOURCE}: config.json", "equal frequency_stride and time_stride", (f_stride, t_stride))
    num_mel_bins, max_length = int(config.get("num_mel_bins", 128)), int(config.get("max_length", 1024))

    out: dict[str, Tensor] = {}
    positions = src.take("embeddings.position_embeddings")  # [1, 2 + f * t, D]
    out["encoder.cls_token"] = src.take("embeddings.cls_token") + positions[:, :1]
    out["dist_token"] = src.take("embeddings.distillation_token") + positions[:, 1:2]
    out["patch_embed.pos_embed"] = positions[:, 2:].clone()
    out["patch_embed.proj.weight"] = src.take("embeddings.patch_embeddings.projection.weight")
    out["patch_embed.proj.bias"] = src.take("embeddings.patch_embeddings.projection.bias")
    out.update(convert_vit_blocks(src, depth, dim, qkv_bias=bool(config.get("qkv_bias", True))))
    src.finish()

    freq_patches = (num_mel_bins - patch) // f_stride + 1
    time_patches = (max_length - patch) // t_stride + 1
    if out["patch_embed.pos_embed"].shape[1] != freq_patches * time_patches:
        raise CheckpointError(
            f"{SOURCE}: embeddings.position_embeddings",
            f"2 + {freq_patches} x {time_patches} positions for {num_mel_bins} bins and {max_length} frames",
            tuple(positions.shape),
        )
    return out, {
        "model_type": "audio_encoder",
        "patch_embed": {
            "dim": dim,
            "num_mel_bins": num_mel_bins,
            "patch_size": patch,
            "stride": f_stride,
            "max_frames": max_length,
            "edge": "drop",  # AST's convolution keeps only the patches that fit
        },
        "encoder": vit_encoder_config(config, SOURCE),
        "preprocessing": ast_preprocessing(files.get("preprocessor_config.json"), num_mel_bins, max_length),
        "distillation_token": True,
    }
