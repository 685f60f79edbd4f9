"""Weight files, loaded safely: safetensors, or pickle-based files through ``weights_only``.

Weights load only from safetensors or, for ``.bin``/``.pt``/``.pth`` files, through
``torch.load(weights_only=True)``; a file that holds anything but tensors raises
:class:`~polymodal.errors.CheckpointError`. Keys match strictly by default, and a mismatch
is reported key by key. Model folders (``config.json`` + weights) are
:mod:`polymodal.models.base`'s concern.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from polymodal.errors import CheckpointError

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "LoadReport",
    "apply_state_dict",
    "find_weights",
    "load_state_dict",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# Pickle-based weight files accepted only through torch.load(weights_only=True).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


# --- safe weight loading ------------------------------------------------------------------
def _only_tensors(obj: Any, source: str) -> dict[str, Tensor]:
    # Training checkpoints often nest the weights one level down; accept that one shape.
    if isinstance(obj, Mapping) and len(obj) == 1:
        (key, inner), = obj.items()
        if key in ("state_dict", "model", "module") and isinstance(inner, Mapping):
            obj = inner
    if not isinstance(obj, Mapping):
        raise CheckpointError(source, "a mapping of parameter names to tensors", type(obj).__name__)
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        shown = ", ".join(repr(k) for k in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise CheckpointError(source, "only tensors (a plain state dict)", f"non-tensor entries {shown}")
    return dict(obj)


def load_state_dict(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Tensor]:
    """Read a state dict from ``.safetensors`` or, safely, from a pickle-based ``.bin``/``.pt``/``.pth``.

    Pickle files go through ``torch.load(weights_only=True)``, which refuses arbitrary
    objects; anything but a mapping of names to tensors raises :class:`CheckpointError`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(str(path), "an existing weights file", "no such file")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path), device=str(map_location))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(str(path), "a valid safetensors file", str(exc)) from None
    if path.suffix in PICKLE_SUFFIXES:
        try:
            obj = torch.load(str(path), map_location=map_location, weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, TypeError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(
                str(path), "a file of plain tensors (loaded with weights_only=True)", first_line
            ) from None
        return _only_tensors(obj, str(path))
    raise CheckpointError(str(path), f"a .safetensors or {'/'.join(PICKLE_SUFFIXES)} file", path.suffix or "no suffix")


def find_weights(directory: str | Path) -> Path:
    """The weights file of a model directory: safetensors first, then ``pytorch_model.bin`` etc."""
    directory = Path(directory)
    for name in (WEIGHTS_NAME, "pytorch_model.bin", "model.bin", "model.pt", "model.pth"):
        if (directory / name).is_file():
            return directory / name
    raise CheckpointError(str(directory), f"a directory holding {WEIGHTS_NAME} (or pytorch_model.bin)", "none found")


@dataclass
class LoadReport:
    """Keys that did not line up between a checkpoint and a model."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "name: checkpoint [..] vs model [..]"

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        parts = []
        for title, keys in (("missing", self.missing), ("unexpected", self.unexpected), ("shape mismatch", self.mismatched)):
            if keys:
                shown = ", ".join(keys[:8]) + (f" ... (+{len(keys) - 8} more)" if len(keys) > 8 else "")
                parts.append(f"{len(keys)} {title}: {shown}")
        return "; ".join(parts) or "all keys matched"


def apply_state_dict(model: nn.Module, state: Mapping[str, Tensor], *, strict: bool = True, source: str = "state dict") -> LoadReport:
    """Copy ``state`` into ``model``; with ``strict`` any missing, unexpected or mis-shaped key raises.

    Non-persistent buffers are not expected in ``state``. Returns the :class:`LoadReport`.
    """
    own = model.state_dict()
    report = LoadReport(
        missing=sorted(set(own) - set(state)),
        unexpected=sorted(set(state) - set(own)),
        mismatched=[
            f"{k}: checkpoint {list(state[k].shape)} vs model {list(own[k].shape)}"
            for k in sorted(set(own) & set(state))
            if tuple(state[k].shape) != tuple(own[k].shape)
        ],
    )
    if strict and not report.ok:
        raise CheckpointError(source, "keys and shapes that match the model", str(report))
    usable = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    model.load_state_dict(usable, strict=False)
    return report
