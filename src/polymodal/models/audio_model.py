"""A pretrained audio encoder: log-Mel frames → :class:`AudioPatchTokenizer` → :class:`TransformerEncoder` → ``[B, D]``.

It holds the Audio Spectrogram Transformer (AST, Gong et al., 2021): DeiT-style, with a
distillation token after the CLS token, and pooling by the mean of those two tokens'
final states. The preprocessing (:class:`AudioTransform`: resampling, the Kaldi
filterbank, AST's fixed length and normalisation) is part of the config, so a loaded
model preprocesses as it was trained. Parts: ``model.transform``, ``model.patch_embed``,
``model.dist_token``, ``model.encoder``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.configurable import Config, validate_config
from polymodal.models.base import MODELS, PretrainedModel
from polymodal.encoder import EncoderConfig, EncoderOutput, TransformerEncoder
from polymodal.errors import ConfigError
from polymodal.modalities.audio import AudioBatch, AudioClip, AudioPatchTokenizer, AudioTransform, collate_audio
from polymodal.tokens import Tokens

__all__ = ["AudioEncoderConfig", "AudioEncoderModel"]


class AudioEncoderConfig(Config):
    """:class:`AudioEncoderModel`'s config: its parts' configs and the preprocessing."""

    field_prefix: ClassVar[str] = "audio_encoder"

    patch_embed: AudioPatchTokenizer.config_class  # type: ignore[valid-type]
    encoder: EncoderConfig
    preprocessing: AudioTransform.config_class  # type: ignore[valid-type]
    distillation_token: bool = False


@MODELS.register("audio_encoder")
class AudioEncoderModel(PretrainedModel):
    """Log-Mel features ``[B, T, F]`` → embeddings ``[B, D]``.

    Args:
        patch_embed: the :class:`AudioPatchTokenizer` (AST's: ``edge="drop"``).
        encoder: the :class:`TransformerEncoder`, with its CLS token and final norm.
        transform: the preprocessing clips were trained with (saved with the weights).
        distillation_token: add AST's distillation token after the CLS token; the pooled
            output is then the mean of the two tokens' final states, as ``ASTModel``'s
            ``pooler_output``.
    """

    def __init__(
        self,
        patch_embed: AudioPatchTokenizer,
        encoder: TransformerEncoder,
        *,
        transform: AudioTransform | None = None,
        distillation_token: bool = False,
    ) -> None:
        super().__init__()
        if patch_embed.dim != encoder.dim:
            raise ConfigError("patch_embed.dim", f"the encoder's width {encoder.dim}", repr(patch_embed.dim))
        if encoder.config.pool != "cls":
            raise ConfigError("encoder.pool", "'cls' (the audio encoder pools its first tokens)", repr(encoder.config.pool))
        self.patch_embed = patch_embed
        self.encoder = encoder
        self.transform = transform or AudioTransform(num_mel_bins=patch_embed.num_mel_bins)
        # Its position is folded in, as the converter folds the CLS position into cls_token.
        self.dist_token = nn.Parameter(torch.zeros(1, 1, encoder.dim)) if distillation_token else None

    @property
    def dim(self) -> int:
        return self.encoder.dim

    # --- checkpoints ---------------------------------------------------------------------------
    def config(self) -> AudioEncoderConfig:
        return AudioEncoderConfig(
            patch_embed=self.patch_embed.config(),
            encoder=self.encoder.config,
            preprocessing=self.transform.config(),
            distillation_token=self.dist_token is not None,
        )

    @classmethod
    def from_config(cls, config: AudioEncoderConfig | Mapping[str, Any], directory: Path | None = None) -> AudioEncoderModel:
        c = validate_config(AudioEncoderConfig, config, "audio_encoder")
        return cls(
            AudioPatchTokenizer.from_config(c.patch_embed),
            TransformerEncoder.from_config(c.encoder),
            transform=AudioTransform.from_config(c.preprocessing),
            distillation_token=c.distillation_token,
        )

    # --- forward ---------------------------------------------------------------------------------
    def forward(
        self, batch: AudioBatch, *, output_hidden_states: bool = False, output_attentions: bool = False
    ) -> EncoderOutput:
        """Encode preprocessed features; ``hidden`` is ``[B, 1 (+1) + f * t, D]``, ``pooled`` ``[B, D]``."""
        tokens = self.patch_embed(batch)
        if self.dist_token is not None:
            b = tokens.embeddings.shape[0]
            embeddings = torch.cat([self.dist_token.expand(b, -1, -1).to(tokens.embeddings.dtype), tokens.embeddings], dim=1)
            mask = torch.cat([tokens.mask.new_ones(b, 1), tokens.mask], dim=1)
            tokens = Tokens(embeddings, mask, tokens.modality, no_padding=tokens.no_padding)
        out = self.encoder(tokens, output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        if self.dist_token is not None:
            out.pooled = (out.hidden[:, 0] + out.hidden[:, 1]) / 2
        return out

    def preprocess(self, clips: Sequence[AudioClip | np.ndarray]) -> AudioBatch:
        """Clips (an :class:`AudioClip`, or ``[T]`` samples at the transform's rate) → an :class:`AudioBatch`."""
        device = self.patch_embed.proj.weight.device
        return collate_audio([self.transform(clip) for clip in clips]).to(device)

    def encode_audio(self, batch: AudioBatch, *, normalize: bool = False) -> Tensor:
        """``[B, D]`` embeddings of preprocessed features."""
        pooled = self(batch).pooled
        return F.normalize(pooled, dim=-1) if normalize else pooled
