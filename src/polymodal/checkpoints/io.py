"""Model directories: ``config.json`` + ``model.safetensors`` (+ tokenizer files), loaded safely.

A polymodal model directory holds

- ``config.json``: ``{"model_type": ..., "polymodal_version": ..., **model.config_dict()}``;
  the model's config includes its preprocessing (image size, mean/std, ...), so that
  :func:`load` predicts correctly with nothing else;
- ``model.safetensors``: the state dict;
- whatever :meth:`PretrainedModel.save_assets` writes (a text model's ``tokenizer.json``).

Weights load only from safetensors or, for ``.bin``/``.pt``/``.pth`` files, through
``torch.load(weights_only=True)``; a file that holds anything but tensors raises
:class:`~polymodal.errors.CheckpointError`. Keys match strictly by default, and a mismatch
is reported key by key. Every file is written atomically (temporary file, fsync, rename),
so an interrupted save never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import Tensor, nn

from polymodal.errors import CheckpointError, ConfigError
from polymodal.registry import Registry

__all__ = [
    "MODELS",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "PretrainedModel",
    "LoadReport",
    "atomic_write",
    "load",
    "load_state_dict",
    "apply_state_dict",
    "read_json",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# Pickle-based weight files accepted only through torch.load(weights_only=True).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")

MODELS: Registry[type[PretrainedModel]] = Registry("model_type")

M = TypeVar("M", bound="PretrainedModel")


# --- atomic files -------------------------------------------------------------------------
def atomic_write(path: str | Path, write: Callable[[Any], None], *, binary: bool = True) -> Path:
    """Write ``path`` through ``write(file)`` into a temporary file, fsync, then rename.

    A reader sees either the old file or the complete new one, never a partial write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # Make the rename itself durable (a crash right after could otherwise lose it).
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return path
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return atomic_write(path, lambda f: f.write(text), binary=False)


def read_json(path: str | Path) -> dict[str, Any]:
    """A JSON object from ``path``; a missing or malformed file raises CheckpointError."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(str(path), "an existing JSON file", "no such file") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(str(path), "valid JSON", str(exc)) from None
    if not isinstance(data, dict):
        raise CheckpointError(str(path), "a JSON object", type(data).__name__)
    return data


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


# --- the model mixin ------------------------------------------------------------------------
class PretrainedModel(nn.Module):
    """Base of every polymodal model that can be saved and loaded by :func:`load`.

    A subclass declares its registry name in the class statement and implements two
    methods; registration happens on definition::

        class MyModel(PretrainedModel, model_type="my_model"):
            def __init__(self, dim: int = 64) -> None: ...
            def config_dict(self) -> dict: return {"dim": self.dim}      # JSON-able
            @classmethod
            def from_config(cls, config, directory=None): return cls(dim=config["dim"])

    ``from_config`` receives config.json's content (minus ``model_type`` and the version
    fields) and, when loading from disk, the directory, so that a model can read the
    assets its :meth:`save_assets` wrote (tokenizer files). Parameters are then filled by
    :func:`load`; ``from_config`` need not initialise them carefully.
    """

    model_type: ClassVar[str] = ""

    def __init_subclass__(cls, model_type: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if model_type is not None:
            cls.model_type = model_type
            MODELS.add(model_type, cls)

    # --- to implement --------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        """Everything ``from_config`` needs to rebuild this model (JSON-able), preprocessing included."""
        raise NotImplementedError(f"{type(self).__name__}.config_dict")

    @classmethod
    def from_config(cls: type[M], config: dict[str, Any], directory: Path | None = None) -> M:
        """A model built from :meth:`config_dict`'s output (weights are loaded afterwards)."""
        raise NotImplementedError(f"{cls.__name__}.from_config")

    def save_assets(self, directory: Path) -> None:
        """Write extra files (tokenizer, vocabulary) beside the weights; none by default."""

    # --- provided ------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``model.safetensors`` and the assets into ``directory``.

        Returns the directory. :func:`polymodal.load` reads it back.
        """
        if not self.model_type:
            raise ConfigError(type(self).__name__, "a model_type (declare class X(PretrainedModel, model_type=...))")
        from polymodal import __version__

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # Cloning drops shared storage (tied weights), which safetensors refuses to write.
        state = {k: v.detach().to("cpu").contiguous().clone() for k, v in self.state_dict().items()}
        payload = save(state, metadata={"format": "pt", "model_type": self.model_type})
        atomic_write(directory / WEIGHTS_NAME, lambda f: f.write(payload))
        self.save_assets(directory)
        config = {
            "model_type": self.model_type,
            "polymodal_version": __version__,
            # Lets load() import a model defined outside polymodal.models (polymodal.* only).
            "model_module": type(self).__module__,
            **self.config_dict(),
        }
        # config.json last: a directory with a config.json is a complete checkpoint.
        write_json(directory / CONFIG_NAME, config)
        return directory

    def load_weights(self, path: str | Path, *, strict: bool = True) -> LoadReport:
        """Load a weights file (safetensors or safe pickle) into this model."""
        return apply_state_dict(self, load_state_dict(path), strict=strict, source=str(path))


def _model_class(config: dict[str, Any], source: str) -> type[PretrainedModel]:
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise CheckpointError(source, "a config.json with a 'model_type' string", repr(model_type))
    if model_type not in MODELS:
        # Built-in models register on import; a model defined elsewhere in polymodal names its module.
        importlib.import_module("polymodal.models")
        module = config.get("model_module")
        if model_type not in MODELS and isinstance(module, str) and module.split(".")[0] == "polymodal":
            importlib.import_module(module)
    if model_type not in MODELS:
        hint = " (a Hugging Face folder? use polymodal.convert.from_huggingface)" if "architectures" in config else ""
        raise CheckpointError(f"{source}: model_type", f"one of {', '.join(MODELS.names()) or '(none)'}{hint}", repr(model_type))
    return MODELS.get(model_type)


def load(directory: str | Path, *, strict: bool = True, map_location: str | torch.device = "cpu") -> PretrainedModel:
    """Rebuild a model saved with :meth:`PretrainedModel.save_pretrained`, in eval mode.

    Args:
        directory: the model directory (``config.json`` + ``model.safetensors``).
        strict: raise :class:`CheckpointError` on any missing, unexpected or mis-shaped key.
        map_location: device for the weights.
    """
    directory = Path(directory)
    config = read_json(directory / CONFIG_NAME)
    cls = _model_class(config, str(directory / CONFIG_NAME))
    body = {k: v for k, v in config.items() if k not in ("model_type", "polymodal_version", "model_module")}
    model = cls.from_config(body, directory)
    path = find_weights(directory)
    apply_state_dict(model, load_state_dict(path, map_location=map_location), strict=strict, source=str(path))
    return model.to(map_location).eval()
