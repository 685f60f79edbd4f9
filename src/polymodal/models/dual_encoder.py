"""A CLIP-style dual encoder: a text tower and an image tower projected into one space.

Radford et al. (2021), "Learning Transferable Visual Models From Natural Language
Supervision": each tower's pooled output is projected linearly, L2-normalised, and the
cosine similarities are scaled by ``exp(logit_scale)`` (initialised at ``log(1 / 0.07)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.models.base import MODELS, PretrainedModel
from polymodal.errors import ConfigError
from polymodal.modalities.image import ImageBatch
from polymodal.modalities.text import TextBatch
from polymodal.models.text_model import TextEncoderModel
from polymodal.models.vision_model import VisionEncoderModel

__all__ = ["DualEncoder", "DualEncoderOutput"]


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
    def config_dict(self) -> dict[str, Any]:
        return {
            "text": self.text.config_dict(),
            "vision": self.vision.config_dict(),
            "projection_dim": self.projection_dim,
            "projection_bias": self.projection_bias,
            "logit_scale_init": self.logit_scale_init,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path | None = None) -> DualEncoder:
        known = {"text", "vision", "projection_dim", "projection_bias", "logit_scale_init"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ConfigError("dual_encoder config", f"only the keys {', '.join(sorted(known))}", f"unknown {unknown}")
        return cls(
            TextEncoderModel.from_config(config["text"], directory),
            VisionEncoderModel.from_config(config["vision"], directory),
            int(config["projection_dim"]),
            projection_bias=bool(config.get("projection_bias", False)),
            logit_scale_init=float(config.get("logit_scale_init", math.log(1 / 0.07))),
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
