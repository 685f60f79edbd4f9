"""Helpers shared by the Hugging Face converters: strict key consumption and renames.

A converter is a pure function ``(state_dict, hf_config, files) -> (state_dict, config)``:
``files`` holds the folder's other JSON files (``preprocessor_config.json``,
``1_Pooling/config.json``, ...), and the returned config is a polymodal ``config.json``
body with its ``model_type``. Every source key must be used exactly once; anything left
over raises :class:`~polymodal.errors.CheckpointError`, so a converter never silently
drops weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

from polymodal.errors import CheckpointError
from polymodal.registry import Registry

__all__ = ["CONVERTERS", "KeyTaker", "ACTIVATIONS", "hf_activation"]

Converter = Callable[[Mapping[str, Tensor], Mapping[str, Any], Mapping[str, Any]], tuple[dict[str, Tensor], dict[str, Any]]]
#: Hugging Face ``model_type`` → pure converter; a new source is one file whose converter
#: is decorated with ``@CONVERTERS.register("<model_type>")``.
CONVERTERS: Registry[Converter] = Registry(
    "Hugging Face model_type",
    builtins=tuple(f"polymodal.checkpoints.huggingface_{m}" for m in ("ast", "bert", "clip", "vit")),
)

# Hugging Face's activation names → polymodal's.
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "quick_gelu": "quick_gelu",
    "relu": "relu",
}


def hf_activation(name: Any, source: str) -> str:
    if name not in ACTIVATIONS:
        raise CheckpointError(f"{source}: hidden_act", f"one of {', '.join(ACTIVATIONS)}", repr(name))
    return ACTIVATIONS[name]


class KeyTaker:
    """Hands out source tensors once each and reports what was never taken.

    Args:
        state: the source state dict.
        source: a name for error messages.
        prefixes: the first of these that some keys carry is stripped from them (``"bert."``).
        ignore: key suffixes that are not weights (``position_ids`` buffers).
    """

    def __init__(self, state: Mapping[str, Tensor], source: str, *, prefixes: Iterable[str] = (), ignore: Iterable[str] = ()) -> None:
        ignore = tuple(ignore)
        keys = [k for k in state if not k.endswith(ignore)] if ignore else list(state)
        renamed = {k: k for k in keys}
        for prefix in prefixes:
            # A task model (BertForMaskedLM, ViTForImageClassification) nests the base model
            # under a prefix; its heads keep their names and end up reported as unexpected.
            if any(k.startswith(prefix) for k in keys):
                renamed = {k: k[len(prefix):] if k.startswith(prefix) else k for k in keys}
                break
        self.state = {new: state[old] for old, new in renamed.items()}
        self.source = source
        self.used: set[str] = set()

    def has(self, key: str) -> bool:
        return key in self.state

    def take(self, key: str) -> Tensor:
        if key not in self.state:
            raise CheckpointError(self.source, f"the key {key!r}", "a checkpoint without it")
        if key in self.used:
            raise CheckpointError(self.source, f"{key!r} used once", "a second use")  # pragma: no cover
        self.used.add(key)
        return self.state[key]

    def take_any(self, *keys: str) -> Tensor:
        """The first of ``keys`` present (one tensor saved under a legacy or a current name)."""
        for key in keys:
            if key in self.state:
                return self.take(key)
        raise CheckpointError(self.source, f"one of the keys {', '.join(map(repr, keys))}", "a checkpoint without them")

    def cat(self, keys: Iterable[str], dim: int = 0) -> Tensor:
        return torch.cat([self.take(k) for k in keys], dim=dim)

    def finish(self) -> None:
        """Raise if any source key was not converted."""
        left = sorted(set(self.state) - self.used)
        if left:
            shown = ", ".join(left[:8]) + (f" ... (+{len(left) - 8} more)" if len(left) > 8 else "")
            raise CheckpointError(self.source, "only keys the converter knows", f"{len(left)} unexpected: {shown}")


def require(config: Mapping[str, Any], key: str, source: str) -> Any:
    if key not in config:
        raise CheckpointError(f"{source}: config.json", f"the field {key!r}", "a config without it")
    return config[key]
