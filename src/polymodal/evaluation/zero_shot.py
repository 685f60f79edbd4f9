"""Zero-shot classification by prompt ensembling, as CLIP does it.

Radford et al. (CLIP, 2021, §3.1.4): each class name is written into several prompt
templates ("a photo of a {}."); the class embedding is the mean of the templates'
L2-normalised text embeddings, normalised again. An input of the modality is then
classified by its cosine similarity to every class embedding, scaled as the source model
scales its logits (``exp(logit_scale)``, clamped at 100), so that the logits equal the
model's own image-text logits for one template.

The model needs ``encode_text(list[str]) -> [N, D]``, ``encode_<modality>(batch) -> [B, D]``
and optionally ``logit_scale`` (a log-space scalar); polymodal's CLIP DualEncoder and
MetaTransformer expose exactly these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.errors import InputError

__all__ = ["ZeroShotClassifier", "DEFAULT_TEMPLATES", "class_embeddings"]

#: A few of CLIP's ImageNet prompt templates.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a blurry photo of a {}.",
    "a photo of the large {}.",
    "a photo of the small {}.",
    "a drawing of a {}.",
)

# CLIP clips its log scale at ln(100): logits never exceed 100 × cosine.
_MAX_LOG_SCALE = math.log(100.0)


@torch.no_grad()
def class_embeddings(model: Any, class_names: Sequence[str], templates: Sequence[str], *, batch_size: int = 256) -> Tensor:
    """``[C, D]`` unit class embeddings: mean of each class's normalised prompt embeddings, renormalised."""
    prompts = [template.format(name) for name in class_names for template in templates]  # class-major
    chunks = [model.encode_text(prompts[i : i + batch_size]) for i in range(0, len(prompts), batch_size)]
    text = F.normalize(torch.cat(chunks).float(), dim=-1)  # [C*T, D]
    if text.shape[0] != len(prompts):
        raise InputError("model.encode_text", f"[{len(prompts)}, D] embeddings for {len(prompts)} prompts", text)
    mean = text.view(len(class_names), len(templates), -1).mean(dim=1)  # [C, D]
    return F.normalize(mean, dim=-1)


class ZeroShotClassifier(nn.Module):
    """Classify inputs of one modality against class names written into prompts.

    Args:
        model: has ``encode_text(list[str]) -> [N, D]`` and ``encode_<modality>(batch) -> [B, D]``,
            optionally ``logit_scale`` (log space).
        class_names: the ``C`` classes, in label order.
        templates: prompt templates with one ``{}`` for the class name.
        modality: which ``encode_<modality>`` embeds the inputs.

    Inputs:
        batch: whatever ``model.encode_<modality>`` takes (e.g. images ``[B, C, H, W]``).

    Returns:
        logits ``[B, C]`` = scale × cosine similarity; scale is ``exp(model.logit_scale)``
        clamped at 100, or 1 if the model has no ``logit_scale``.
    """

    def __init__(
        self,
        model: Any,
        class_names: Sequence[str],
        templates: Sequence[str] = DEFAULT_TEMPLATES,
        modality: str = "image",
    ) -> None:
        super().__init__()
        if isinstance(class_names, str) or len(class_names) == 0:
            raise InputError("class_names", "a non-empty list of class names", class_names)
        if isinstance(templates, str) or len(templates) == 0 or any("{}" not in t for t in templates):
            raise InputError("templates", "a non-empty list of strings each with one '{}'", templates)
        encode = getattr(model, f"encode_{modality}", None)
        if not callable(encode) or not callable(getattr(model, "encode_text", None)):
            raise InputError("model", f"an object with encode_text and encode_{modality}", type(model).__name__)
        self.model = model
        self.class_names = list(class_names)
        self.templates = list(templates)
        self.modality = modality
        self.register_buffer("weights", class_embeddings(model, self.class_names, self.templates), persistent=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def scale(self) -> Tensor:
        log_scale = getattr(self.model, "logit_scale", None)
        if log_scale is None:
            return self.weights.new_ones(())
        return torch.as_tensor(log_scale, dtype=self.weights.dtype).clamp(max=_MAX_LOG_SCALE).exp()

    @torch.no_grad()
    def forward(self, batch: Any) -> Tensor:
        features = getattr(self.model, f"encode_{self.modality}")(batch)
        if not isinstance(features, Tensor) or features.ndim != 2 or features.shape[1] != self.weights.shape[1]:
            raise InputError(f"model.encode_{self.modality}", f"[B, {self.weights.shape[1]}] embeddings", features)
        features = F.normalize(features.to(self.weights.dtype), dim=-1)
        return self.scale() * features @ self.weights.T  # [B, C]

    def predict(self, batch: Any) -> Tensor:
        """``[B]`` long class indices."""
        return self.forward(batch).argmax(dim=-1)
