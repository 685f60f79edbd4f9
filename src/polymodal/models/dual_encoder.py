"""A CLIP-style dual encoder: a text tower and an image tower projected into one space.

Radford et al. (2021), "Learning Transferable Visual Models From Natural Language
Supervision": each tower's pooled output is projected linearly, L2-normalised, and the
cosine similarities are scaled by ``exp(logit_scale)`` (initialised at ``log(1 / 0.07)``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from polymodal.configurable import Config, validate_config
from polymodal.models.base import MODELS, PretrainedModel
from polymodal.errors import ConfigError
from polymodal.modalities.image import ImageBatch
from polymodal.modalities.text import TextBatch
from polymodal.models.text_model import TextEncoderConfig, TextEncoderModel
from polymodal.models.vision_model import VisionEncoderConfig, VisionEncoderModel

__all__ = ["DualEncoder", "DualEncoderConfig", "DualEncoderOutput"]


class DualEncoderConfig(Config):
    """:class:`DualEncoder`'s config: both towers' configs and the projections."""

    field_prefix: ClassVar[str] = "dual_encoder"

    text: TextEncoderConfig
    vision: VisionEncoderConfig
    projection_dim: int = Field(gt=0)
    projection_bias: bool = False
    logit_scale_init: float = math.log(1 / 0.07)


@dataclass
class DualEncoderOutput:
    """What :meth:`DualEncoder.forward` returns (as ``CLIPModel``'s output).

    Attributes:
        logits_per_image: ``[B_img, B_txt]`` scaled cosine similarities.
        logits_per_text: ``[B_txt, B_img]``, the transpose.
        text_embeds: ``[B_txt, P]`` normalised projected text features.
        image_embeds: ``[B_img, P]`` normalised projected image features.
    """

    logits_per_image: Tensor
    logits_per_text: Tensor
    text_embeds: Tensor
    image_embeds: Tensor


@MODELS.register("dual_encoder")
class DualEncoder(PretrainedModel):
    """Text tower + image tower + linear projections + a learnable temperature.

    Args:
        text: a :class:`TextEncoderModel` (CLIP's: causal, EOS pooling).
        vision: a :class:`VisionEncoderModel`.
        projection_dim: width P of the shared space.
        logit_scale_init: initial ``logit_scale`` (the log of the inverse temperature).
        projection_bias: biases on the projections (CLIP has none).
    """

    def __init__(
        self,
        text: TextEncoderModel,
        vision: VisionEncoderModel,
        projection_dim: int,
        *,
        logit_scale_init: float = math.log(1 / 0.07),
        projection_bias: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(projection_dim, int) or projection_dim <= 0:
            raise ConfigError("projection_dim", "a positive integer", repr(projection_dim))
        self.text = text
        self.vision = vision
        self.projection_dim = projection_dim
        self.projection_bias = projection_bias
        self.logit_scale_init = logit_scale_init
        self.text_projection = nn.Linear(text.dim, projection_dim, bias=projection_bias)
        self.visual_projection = nn.Linear(vision.dim, projection_dim, bias=projection_bias)
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale_init)))

    def no_weight_decay(self) -> set[str]:
        return {"logit_scale"}

    # --- checkpoints ---------------------------------------------------------------------------
    def config(self) -> DualEncoderConfig:
        return DualEncoderConfig(
            text=self.text.config(),
            vision=self.vision.config(),
            projection_dim=self.projection_dim,
            projection_bias=self.projection_bias,
            logit_scale_init=self.logit_scale_init,
        )

    @classmethod
    def from_config(cls, config: DualEncoderConfig | Mapping[str, Any], directory: Path | None = None) -> DualEncoder:
        c = validate_config(DualEncoderConfig, config, "dual_encoder")
        return cls(
            TextEncoderModel.from_config(c.text, directory),
            VisionEncoderModel.from_config(c.vision, directory),
            c.projection_dim,
            projection_bias=c.projection_bias,
            logit_scale_init=c.logit_scale_init,
        )

    def save_assets(self, directory: Path) -> None:
        self.text.save_assets(directory)

    # --- forward ---------------------------------------------------------------------------------
    def encode_text(self, text: TextBatch | Sequence[str], *, normalize: bool = False) -> Tensor:
        """``[B, P]`` projected text features (``CLIPModel.get_text_features``)."""
        batch = text if isinstance(text, TextBatch) else self.text.tokenize(text)
        features = self.text_projection(self.text(batch).pooled)
        return F.normalize(features, dim=-1) if normalize else features

    def encode_image(self, pixels: ImageBatch | Tensor, *, normalize: bool = False) -> Tensor:
        """``[B, P]`` projected image features of preprocessed pixels ``[B, C, H, W]``."""
        features = self.visual_projection(self.vision(pixels).pooled)
        return F.normalize(features, dim=-1) if normalize else features

    def forward(self, text: TextBatch | Sequence[str], images: ImageBatch | Tensor) -> DualEncoderOutput:
        text_embeds = self.encode_text(text, normalize=True)
        image_embeds = self.encode_image(images, normalize=True)
        logits_per_text = text_embeds @ image_embeds.T * self.logit_scale.exp()
        return DualEncoderOutput(logits_per_text.T, logits_per_text, text_embeds, image_embeds)
