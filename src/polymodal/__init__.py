"""polymodal: one transformer framework for every modality.

Meta-Transformer's ``h ∘ g ∘ f``: per-modality data-to-sequence tokenizers ``f`` that
return :class:`Tokens`, one shared encoder ``g``, and task heads ``h``; plus the
cross-modal fusion strategies of Xu, Zhu & Clifton's survey.

Everything is reached from here and imported on first use, so ``import polymodal`` costs
little beyond torch: the subpackages (``polymodal.modalities``, ``.encoder``, ``.fusion``,
``.heads``, ``.objectives``, ``.models``, ``.checkpoints``, ``.convert``, ``.data``,
``.training``, ``.evaluation``, ``.recipes``, ``.registry``, ``.configurable``) and the flat factories (``load``,
``from_huggingface``, ``list_modalities``, ``build_tokenizer``, ``list_fusions``,
``build_fusion``, ...). See ``docs/api.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from polymodal import errors
from polymodal._version import __version__

_SUBPACKAGES = (
    "checkpoints",
    "configurable",
    "convert",
    "data",
    "encoder",
    "evaluation",
    "fusion",
    "heads",
    "inference",
    "modalities",
    "models",
    "objectives",
    "pretrained",
    "recipes",
    "registry",
    "training",
)
# Public name → the module that defines it.
_ATTRIBUTES = {
    "Tokens": "polymodal.tokens",
    "PretrainedModel": "polymodal.models.base",
    "load": "polymodal.models.base",
    "from_huggingface": "polymodal.convert",
    **{
        name: "polymodal.factories"
        for name in (
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
        )
    },
}

__all__ = ["errors", "__version__", *_SUBPACKAGES, *_ATTRIBUTES]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from polymodal.convert import from_huggingface
    from polymodal.factories import (
        build_fusion,
        build_head,
        build_objective,
        build_tokenizer,
        get_modality,
        list_fusions,
        list_heads,
        list_modalities,
        list_models,
        list_objectives,
        list_tokenizers,
    )
    from polymodal.models.base import PretrainedModel, load
    from polymodal.tokens import Tokens


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"polymodal.{name}")
    if name in _ATTRIBUTES:
        value = getattr(importlib.import_module(_ATTRIBUTES[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'polymodal' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
