"""Model folders and the model registry: :class:`PretrainedModel`, :data:`MODELS`, :func:`load`.

A polymodal model folder holds

- ``config.json``: ``{"model_type": ..., "polymodal_version": ..., "requires": [...], **model.config()}``
  (the typed config dumped to JSON);
  the model's config includes its preprocessing (image size, mean/std, ...), so that
  :func:`load` predicts correctly with nothing else, and ``requires`` names the plugin
  distributions (name and version) whose registered parts the model uses;
- ``model.safetensors``: the state dict;
- whatever :meth:`PretrainedModel.save_assets` writes (a text model's ``tokenizer.json``).

A folder never names code to import: ``model_type`` resolves through :data:`MODELS` only,
which holds polymodal's models and those of installed plugins (entry-point group
``polymodal.models``). Every file is written atomically, ``config.json`` last, so an
interrupted save never leaves a folder that looks complete.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors.torch import save
from torch import nn

from polymodal._version import __version__
from polymodal._files import atomic_write, read_json, write_json
from polymodal.checkpoints.io import CONFIG_NAME, WEIGHTS_NAME, LoadReport, apply_state_dict, find_weights, load_state_dict
from polymodal.configurable import Config, to_json
from polymodal.errors import CheckpointError, ConfigError, PolymodalError
from polymodal.registry import Origin, Registry, origin_of

__all__ = ["MODELS", "PretrainedModel", "load", "check_requirements"]

_BUILTIN_MODELS = tuple(
    f"polymodal.models.{m}"
    for m in (
        "audio_model", "captioner", "dual_encoder", "file_classifier", "meta_transformer", "text_model", "vision_model",
    )
)  # fmt: skip
# Keys of config.json that belong to the folder, not to the model's own config.
# ("model_module" was written by versions before 0.2; it is ignored, never imported.)
_FOLDER_KEYS = ("model_type", "polymodal_version", "requires", "model_module")

M = TypeVar("M", bound="PretrainedModel")


class PretrainedModel(nn.Module):
    """Base of every polymodal model that can be saved and loaded by :func:`load`.

    A subclass registers itself under its ``model_type`` and implements the verb every
    part answers (:mod:`polymodal.configurable`)::

        class MyConfig(Config):
            dim: int = 64

        @MODELS.register("my_model")
        class MyModel(PretrainedModel):
            def __init__(self, dim: int = 64) -> None: ...
            def config(self) -> MyConfig: return MyConfig(dim=self.dim)
            @classmethod
            def from_config(cls, config, directory=None):
                config = validate_config(MyConfig, config, "my_model")   # a Config or config.json's mapping
                return cls(dim=config.dim)

    ``from_config`` receives a config or config.json's content (minus ``model_type`` and
    the version fields) and, when loading from disk, the directory, so that a model can read
    the assets its :meth:`save_assets` wrote (tokenizer files). Parameters are then filled
    by :func:`load`; ``from_config`` need not initialise them carefully. (A model of a
    version before 0.3 that still defines ``config_dict`` is saved through it, with a
    ``DeprecationWarning``.)
    """

    model_type: ClassVar[str] = ""  # set by MODELS.register

    # --- to implement --------------------------------------------------------------------
    def config(self) -> Config | Mapping[str, Any]:
        """Everything ``from_config`` needs to rebuild this model, preprocessing included: a
        typed :class:`~polymodal.configurable.Config` (or a JSON-able mapping of them)."""
        legacy = getattr(self, "config_dict", None)
        if legacy is not None:  # the verb of versions before 0.3
            warnings.warn(f"{type(self).__name__}.config_dict is deprecated: name it config()", DeprecationWarning, stacklevel=2)
            return legacy()
        raise NotImplementedError(f"{type(self).__name__}.config")

    @classmethod
    def from_config(cls: type[M], config: Config | Mapping[str, Any], directory: Path | None = None) -> M:
        """A model built from :meth:`config`'s output or config.json's mapping (weights are loaded afterwards)."""
        raise NotImplementedError(f"{cls.__name__}.from_config")

    def save_assets(self, directory: Path) -> None:
        """Write extra files (tokenizer, vocabulary) beside the weights; none by default."""

    def parts(self) -> Iterable[Any]:
        """Objects the model needs besides those it holds as attributes (which
        :meth:`requirements` finds by itself), so that their plugins are recorded too."""
        return ()

    def requirements(self) -> list[Origin]:
        """The plugin distributions whose code this model is built from, sorted by name.

        Looked for in the classes of the model, of its submodules and of what they hold as
        attributes (a transform, a modality entry, one level into dicts and lists), and of
        :meth:`parts`; only distributions that declare polymodal entry points count.
        """
        found: dict[str, Origin] = {}
        for obj in (self, *self.modules(), *_held(self), *self.parts()):
            origin = origin_of(obj if isinstance(obj, type) else type(obj))
            if origin is not None:
                found[origin.distribution] = origin
        return [found[name] for name in sorted(found)]

    # --- provided ------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``model.safetensors`` and the assets into ``directory``.

        Returns the directory. :func:`polymodal.load` reads it back.
        """
        if not self.model_type:
            raise ConfigError(type(self).__name__, "a registered model (decorate the class with @MODELS.register(name))")
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
            "requires": [origin.to_dict() for origin in self.requirements()],
            **to_json(self.config()),
        }
        # config.json last: a directory with a config.json is a complete checkpoint.
        write_json(directory / CONFIG_NAME, config)
        return directory

    def load_weights(self, path: str | Path, *, strict: bool = True) -> LoadReport:
        """Load a weights file (safetensors or safe pickle) into this model."""
        return apply_state_dict(self, load_state_dict(path), strict=strict, source=str(path))



#: Model classes by ``model_type``; plugins add theirs through the ``polymodal.models`` group.
MODELS: Registry[type[PretrainedModel]] = Registry(
    "model_type", group="polymodal.models", builtins=_BUILTIN_MODELS, attribute="model_type", base=PretrainedModel
)


def _held(model: nn.Module) -> Iterator[Any]:
    """Every plain attribute of every submodule, and the items of dict, list and tuple ones."""
    for module in model.modules():
        for key, value in vars(module).items():
            if key.startswith("_"):  # torch's own bookkeeping (_parameters, _modules, hooks)
                continue
            yield value
            if isinstance(value, dict):
                yield from value.values()
            elif isinstance(value, (list, tuple)):
                yield from value


def check_requirements(config: dict[str, Any], source: str) -> None:
    """Raise :class:`CheckpointError` naming the package to install when a plugin distribution
    that ``config["requires"]`` names is not installed."""
    requires = config.get("requires", [])
    if not isinstance(requires, list) or not all(
        isinstance(r, dict) and isinstance(r.get("distribution"), str) and isinstance(r.get("version"), str) for r in requires
    ):
        raise CheckpointError(f"{source}: requires", "a list of {distribution, version} objects", requires)
    for required in requires:
        name, version = required["distribution"], required["version"]
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise CheckpointError(
                f"{source}: requires", f"the plugin distribution {name!r} installed (pip install '{name}=={version}')", "not installed"
            ) from None


def _model_class(config: dict[str, Any], source: str) -> type[PretrainedModel]:
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise CheckpointError(f"{source}: model_type", "a string naming a registered model", repr(model_type))
    if model_type not in MODELS:
        hint = " (a Hugging Face folder? use polymodal.convert.from_huggingface)" if "architectures" in config else ""
        raise CheckpointError(f"{source}: model_type", f"one of {', '.join(MODELS.names())}{hint}", repr(model_type))
    return MODELS.get(model_type)


def load(directory: str | Path, *, strict: bool = True, map_location: str | torch.device = "cpu") -> PretrainedModel:
    """Rebuild a model saved with :meth:`PretrainedModel.save_pretrained`, in eval mode.

    The model class comes from :data:`MODELS` by ``model_type``: a folder never causes an
    import by naming a module. A plugin distribution the folder ``requires`` that is not
    installed raises :class:`CheckpointError` naming the package.

    Args:
        directory: the model directory (``config.json`` + ``model.safetensors``).
        strict: raise :class:`CheckpointError` on any missing, unexpected or mis-shaped key.
        map_location: device for the weights.
    """
    directory = Path(directory)
    source = str(directory / CONFIG_NAME)
    config = read_json(directory / CONFIG_NAME)
    check_requirements(config, source)
    cls = _model_class(config, source)
    body = {k: v for k, v in config.items() if k not in _FOLDER_KEYS}
    try:
        model = cls.from_config(body, directory)
    except CheckpointError:
        raise
    except KeyError as exc:
        raise CheckpointError(f"{source}: {exc.args[0] if exc.args else '?'}", f"a key that a {cls.model_type} config holds", "missing") from None
    except PolymodalError as exc:  # a constructor's own check (a side file, a bad value), already named
        raise CheckpointError(source, f"a valid {cls.model_type} config", str(exc)) from None
    except MemoryError:
        raise CheckpointError(source, f"a {cls.model_type} config whose sizes fit in memory", "MemoryError") from None
    except Exception as exc:  # a mistyped value fails deep in a constructor as anything at all
        key = _culprit(exc, body)
        raise CheckpointError(
            f"{source}: {key}" if key else source,
            f"a valid {cls.model_type} config",
            f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
        ) from None
    path = find_weights(directory)
    weights = load_state_dict(path, map_location=map_location)
    try:
        apply_state_dict(model, weights, strict=strict, source=str(path))
    except CheckpointError as exc:
        hint = f"does {source} describe the model these weights belong to?"
        raise CheckpointError(exc.field, exc.expected, exc.got, hint=exc.hint or hint) from None
    return model.to(map_location).eval()


def _culprit(exc: BaseException, body: dict[str, Any]) -> str | None:
    """The config key a constructor's error message quotes, when it quotes exactly one."""
    text = str(exc)
    named = [key for key in body if f"'{key}'" in text or f'"{key}"' in text]
    return named[0] if len(named) == 1 else None
