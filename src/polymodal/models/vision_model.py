"""A pretrained image encoder: pixels → :class:`PatchTokenizer` → :class:`TransformerEncoder` → ``[B, D]``.

It holds ViT (CLS pooling after the final LayerNorm, optional dense + tanh pooler) and
CLIP's vision tower (``input_norm`` = CLIP's ``pre_layrnorm``; the final norm plays
``post_layernorm`` on the pooled CLS token). The image preprocessing
(:class:`ImageTransform`) is part of the config, so a loaded model preprocesses as it
was trained. Parts: ``model.transform``, ``model.patch_embed``, ``model.encoder``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.configurable import Config, validate_config
from polymodal.models.base import MODELS, PretrainedModel
from polymodal.encoder import EncoderConfig, EncoderOutput, TransformerEncoder
from polymodal.errors import ConfigError
from polymodal.modalities.image import ImageBatch, ImageTransform, PatchTokenizer, collate_images

__all__ = ["VisionEncoderConfig", "VisionEncoderModel"]


class VisionEncoderConfig(Config):
    """:class:`VisionEncoderModel`'s config: its parts' configs and the preprocessing."""

    field_prefix: ClassVar[str] = "vision_encoder"

    patch_embed: PatchTokenizer.config_class  # type: ignore[valid-type]
    encoder: EncoderConfig
    preprocessing: ImageTransform.config_class  # type: ignore[valid-type]
    pooler: bool = False
    use_pooler: bool = False


@MODELS.register("vision_encoder")
class VisionEncoderModel(PretrainedModel):
    """Images ``[B, C, H, W]`` → embeddings ``[B, D]``.

    Args:
        patch_embed: the :class:`PatchTokenizer`.
        encoder: the :class:`TransformerEncoder` (with its CLS token; pooling as configured there).
        transform: the preprocessing images were trained with (saved with the weights).
        pooler: add ViT's dense + tanh pooler; ``EncoderOutput.extras["pooler_output"]``.
        use_pooler: make :meth:`encode_image` return the pooler output instead of the pooled CLS.
    """

    def __init__(
        self,
        patch_embed: PatchTokenizer,
        encoder: TransformerEncoder,
        *,
        transform: ImageTransform | None = None,
        pooler: bool = False,
        use_pooler: bool = False,
    ) -> None:
        super().__init__()
        if patch_embed.dim != encoder.dim:
            raise ConfigError("patch_embed.dim", f"the encoder's width {encoder.dim}", repr(patch_embed.dim))
        if use_pooler and not pooler:
            raise ConfigError("use_pooler", "False when the model has no pooler", "True")
        self.patch_embed = patch_embed
        self.encoder = encoder
        self.transform = transform or ImageTransform(size=patch_embed.image_size, crop=None, mean=0.5, std=0.5, resize="exact")
        self.pooler = nn.Linear(encoder.dim, encoder.dim) if pooler else None
        self.use_pooler = use_pooler

    @property
    def dim(self) -> int:
        return self.encoder.dim

    # --- checkpoints ---------------------------------------------------------------------------
    def config(self) -> VisionEncoderConfig:
        return VisionEncoderConfig(
            patch_embed=self.patch_embed.config(),
            encoder=self.encoder.config,
            preprocessing=self.transform.config(),
            pooler=self.pooler is not None,
            use_pooler=self.use_pooler,
        )

    @classmethod
    def from_config(cls, config: VisionEncoderConfig | Mapping[str, Any], directory: Path | None = None) -> VisionEncoderModel:
        c = validate_config(VisionEncoderConfig, config, "vision_encoder")
        return cls(
            PatchTokenizer.from_config(c.patch_embed),
            TransformerEncoder.from_config(c.encoder),
            transform=ImageTransform.from_config(c.preprocessing),
            pooler=c.pooler,
            use_pooler=c.use_pooler,
        )

    # --- forward ---------------------------------------------------------------------------------
    def forward(
        self, images: ImageBatch | Tensor, *, output_hidden_states: bool = False, output_attentions: bool = False
    ) -> EncoderOutput:
        """Encode preprocessed pixels ``[B, C, H, W]``; ``pooled`` is ``[B, D]``."""
        tokens = self.patch_embed(images)
        out = self.encoder(tokens, output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        if self.pooler is not None:
            out.extras["pooler_output"] = torch.tanh(self.pooler(out.hidden[:, 0]))
            if self.use_pooler:
                out.pooled = out.extras["pooler_output"]
        return out

    def preprocess(self, images: Sequence[Tensor]) -> ImageBatch:
        """Raw ``[C, H, W]`` images in [0, 1] (as :func:`read_image` gives) → an :class:`ImageBatch`."""
        device = self.patch_embed.proj.weight.device
        return collate_images([self.transform(image) for image in images]).to(device)

    def encode_image(self, pixels: ImageBatch | Tensor, *, normalize: bool = False) -> Tensor:
        """``[B, D]`` embeddings of preprocessed pixels ``[B, C, H, W]``."""
        pooled = self(pixels).pooled
        return F.normalize(pooled, dim=-1) if normalize else pooled
