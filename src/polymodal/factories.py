"""Flat factories and listings over every registry, as ``timm.create_model`` / ``list_models``.

``polymodal.list_modalities()`` names what a config may say; ``build_tokenizer("patch",
dim=384, in_channels=1)`` and ``build_fusion("early_concat", modalities=[...], dim=384)``
build a part by name. Plugins' entries appear here as soon as they are installed.
"""

from __future__ import annotations

from typing import Any

from polymodal.fusion.base import FUSIONS, build_fusion
from polymodal.heads.base import HEADS, build_head
from polymodal.modalities.base import MODALITIES, TOKENIZERS, Modality, Tokenizer, TokenizerSpec
from polymodal.models.base import MODELS
from polymodal.objectives.base import OBJECTIVES, build_objective

__all__ = [
    "build_fusion",
    "build_head",
    "build_objective",
    "build_tokenizer",
    "get_modality",
    "list_fusions",
    "list_heads",
    "list_modalities",
    "list_models",
    "list_objectives",
    "list_tokenizers",
]


def list_modalities() -> list[str]:
    """Names of the registered modalities (built-in and plugins'), sorted."""
    return MODALITIES.names()


def get_modality(name: str) -> type[Modality]:
    """The registered modality ``name``: its reader, transform, collate and default tokenizer."""
    return MODALITIES.get(name, field="modality")


def list_tokenizers(modality: str | None = None) -> list[str]:
    """Names of the registered tokenizers, only those of ``modality`` when given."""
    return [n for n in TOKENIZERS.names() if modality is None or TOKENIZERS.get(n).modality == modality]


def build_tokenizer(name: str, *, dim: int, **options: Any) -> Tokenizer:
    """The tokenizer registered as ``name`` with output width ``dim`` and its own ``options``."""
    return TokenizerSpec(name, options).build(dim)


def list_fusions() -> list[str]:
    """Names of the registered fusion strategies, sorted."""
    return FUSIONS.names()


def list_heads() -> list[str]:
    return HEADS.names()


def list_objectives() -> list[str]:
    return OBJECTIVES.names()


def list_models() -> list[str]:
    """``model_type`` names that :func:`polymodal.load` can rebuild, sorted."""
    return MODELS.names()

