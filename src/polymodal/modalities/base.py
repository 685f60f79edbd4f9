"""The contract every modality follows: reader → transform → collate → tokenizer → Tokens.

A modality is one file in this package that defines
- a **reader**: ``read(path) -> raw`` (file → numpy array / tensor / object), raising
  :class:`~polymodal.errors.InputError` that names the file on bad input;
- a **transform**: a picklable callable class built from plain options, ``raw -> sample``,
  not learnable, so it runs in data-loader workers; it is :class:`Configurable`:
  ``transform.config()`` returns its options as a typed config, saved with the weights,
  and ``Transform.from_config(config)`` rebuilds it;
- a **collate**: ``collate(list[sample]) -> Batch``, padding to the longest with a mask;
- one or more **tokenizers**: ``nn.Module`` subclasses of :class:`Tokenizer` with
  ``forward(batch) -> Tokens``, registered in :data:`TOKENIZERS`;

and registers a :class:`Modality` in :data:`MODALITIES`, so that a config can say
``modality: audio`` and ``polymodal predict`` can route a file by its extension.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor, nn

from pydantic import Field

from polymodal.configurable import Config, Configurable, to_json
from polymodal.errors import ConfigError, InputError
from polymodal.registry import Registry
from polymodal.tokens import Tokens

__all__ = ["Batch", "Tokenizer", "Modality", "TokenizerSpec", "MODALITIES", "TOKENIZERS", "can_read", "modality_for_file"]


@dataclass
class Batch:
    """Base of each modality's collated batch (a dataclass of tensors and metadata)."""

    def to(self, device: Any) -> Batch:
        """A copy with every tensor field (and nested batch) moved to ``device``."""
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)
            if isinstance(getattr(self, f.name), (Tensor, Batch))
        }
        return replace(self, **moved)

    def __len__(self) -> int:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                return value.shape[0]
        raise TypeError(f"{type(self).__name__} holds no tensor")


class Tokenizer(Configurable, nn.Module):
    """Base class of data-to-sequence tokenizers (Meta-Transformer's ``f``).

    Subclasses set ``modality`` (registry name) and ``dim`` (output width D) and implement
    ``forward(batch) -> Tokens`` with embeddings ``[B, N, D]`` and mask ``[B, N]``. Their
    keyword-argument constructor is their config (:class:`~polymodal.configurable.Configurable`):
    ``tokenizer.config()`` and ``type(tokenizer).from_config(config)``.
    """

    modality: str = ""
    dim: int
    # Constructor options that must equal a setting of the model the tokens go to (the graph
    # tokenizer's per-head attention bias: ``num_heads``): a model fills them in itself.
    model_settings: tuple[str, ...] = ()

    @classmethod
    def _field(cls) -> str:
        return f"tokenizer.{cls.__dict__.get('name') or cls.__name__}"

    def forward(self, batch: Any) -> Tokens:  # pragma: no cover - abstract
        raise NotImplementedError

    def no_weight_decay(self) -> set[str]:
        """Names of parameters that an optimiser should not decay (positions, special tokens)."""
        return {name for name, _ in self.named_parameters() if "pos_embed" in name or name.endswith("token")}


class Modality:
    """A modality's registry entry: subclass it, set the class attributes, register it::

        @MODALITIES.register("audio")
        class AudioModality(Modality):
            '''WAV/FLAC/OGG → Kaldi log-Mel → patch tokens.'''   # the description
            extensions = (".wav", ".flac")
            read = staticmethod(read_audio)
            transform = AudioTransform
            collate = staticmethod(collate_audio)
            default_tokenizer = "audio_patch"

    Attributes:
        name: registry name (``"audio"``), set by the registry; also the manifest field
            that holds the modality's files.
        extensions: lower-case file suffixes routed to this modality (``(".wav", ".flac")``).
        reads: further suffixes :attr:`read` takes (``.csv`` for time series).
        reads_folders: whether :attr:`read` takes a folder (video frames).
        archive_extensions: suffixes of files holding many samples (``(".ts",)``).
        read: ``read(path) -> raw``.
        transform: the transform class; ``transform(**options)`` builds one.
        collate: ``collate(list[sample]) -> Batch``.
        default_tokenizer: key in :data:`TOKENIZERS` used when a config names none.
        description: one line for listings and docs: the docstring's first line.
    """

    name: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
    # Further suffixes the reader takes that route elsewhere by default (.csv is tabular's,
    # yet a time series reader reads it): `polymodal predict` uses them for a model that has
    # this modality and not the default one, or with --modality.
    reads: ClassVar[tuple[str, ...]] = ()
    # Whether the reader takes a folder (a video's frames).
    reads_folders: ClassVar[bool] = False
    # The training-time augmentation's class (``augmentation(**options)``), or None.
    augmentation: ClassVar[type | None] = None
    # Suffixes of files that hold many samples of this modality (UEA/UCR ``.ts``): a manifest
    # line or a file given to ``predict`` stands for each of them (:meth:`archive_members`).
    archive_extensions: ClassVar[tuple[str, ...]] = ()
    transform: ClassVar[type]
    default_tokenizer: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.description = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @staticmethod
    def read(path: str | Path) -> Any:  # pragma: no cover - each modality sets its own
        raise NotImplementedError

    @staticmethod
    def collate(samples: Sequence[Any]) -> Batch:  # pragma: no cover - each modality sets its own
        raise NotImplementedError

    @classmethod
    def build_augmentation(cls, options: Mapping[str, Any], transform: Any, field: str | None = None) -> Callable[[Any, Any], Any]:
        """A training-time augmentation of this modality's transformed samples from a config's
        ``options``: ``aug(sample, generator) -> sample``, drawing every random number from the
        ``torch.Generator`` it is given. A modality without one raises :class:`ConfigError`."""
        from polymodal.errors import ConfigError

        field = field or f"augment.{cls.name}"
        if cls.augmentation is None:
            with_one = sorted(name for name in MODALITIES.names() if MODALITIES.get(name).augmentation is not None)
            raise ConfigError(field, f"a stream of a modality with augmentations ({', '.join(with_one)})", cls.name)
        try:
            return cls.augmentation(**options, field=field)
        except TypeError as err:
            raise ConfigError(field, f"options of {cls.augmentation.__name__}", str(err)) from None

    @classmethod
    def archive_members(cls, path: str | Path) -> list[tuple[str, str | None]]:
        """``(reference, label or None)`` for each sample of an archive; :attr:`read` reads a
        reference. Modalities without :attr:`archive_extensions` have none."""
        raise InputError(str(path), f"an archive of {cls.name} samples ({', '.join(cls.archive_extensions) or 'none'})", Path(path).suffix)

    # --- the transform's life: built from options (fitted on training data where it must be),
    # saved with a model, loaded back. A modality whose transform needs more than
    # ``transform(**options)`` and ``transform.config()`` overrides these.
    @classmethod
    def build_transform(cls, options: Mapping[str, Any], fit_on: Callable[[], Sequence[Any]] | None = None) -> Any:
        """This modality's transform from a config's ``options``.

        A transform fitted on training data (tabular statistics, a text vocabulary) is
        fitted on ``fit_on()``, the training split's raw samples as :attr:`read` gives them,
        when ``options`` do not already hold what fitting gives; without ``fit_on`` that is a
        :class:`~polymodal.errors.ConfigError`. Other modalities never call ``fit_on``.
        """
        return cls.transform(**options)

    @classmethod
    def save_transform(cls, transform: Any, directory: Path) -> None:
        """Write the files the transform needs beside a model's ``config.json`` (a vocabulary);
        its options go into ``config.json`` as ``transform.config()``."""

    @classmethod
    def load_transform(cls, config: Mapping[str, Any], directory: Path | None) -> Any:
        """The transform saved as ``config`` (and files in ``directory``, :meth:`save_transform`)."""
        return cls.transform(**config)

    @classmethod
    def transform_digest(cls, transform: Any) -> bytes:
        """A digest of everything the transform does (its options, fitted statistics, vocabulary)."""
        return hashlib.sha256(json.dumps(to_json(transform.config()), sort_keys=True).encode()).digest()

    @classmethod
    def tokenizer_defaults(cls, transform: Any, tokenizer: str) -> dict[str, Any]:
        """Options of tokenizer ``tokenizer`` that follow from ``transform`` (a vocabulary's
        size, a table's columns), used unless a config gives them."""
        return {}

class TokenizerSpec(Config):
    """A tokenizer by registry name plus its constructor options (``dim`` is the model's).

    A typed config itself (``TokenizerSpec("patch", {"patch_size": 8})``); :meth:`build`
    validates the options through the tokenizer's own config.
    """

    field_prefix: ClassVar[str] = "tokenizer"

    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, name: str | None = None, options: Mapping[str, Any] | None = None, /, **data: Any) -> None:
        if name is not None:
            data["name"] = name
        if options is not None:
            data["options"] = dict(options)
        super().__init__(**data)

    def build(self, dim: int) -> Tokenizer:
        """The tokenizer, its options validated by its config (a ConfigError names a bad one)."""
        cls = TOKENIZERS.get(self.name, field="tokenizer")
        if "dim" in self.options and self.options["dim"] != dim:
            raise ConfigError(f"tokenizer.{self.name}.dim", f"unset or the model's width {dim}", self.options["dim"])
        return cls.from_config({**self.options, "dim": dim})


_BUILTIN_MODALITIES = tuple(
    f"polymodal.modalities.{m}"
    for m in ("audio", "graph", "image", "multichannel", "point_cloud", "tabular", "text", "time_series", "video")
)
#: Modalities by name; plugins add theirs through the ``polymodal.modalities`` entry-point group.
MODALITIES: Registry[type[Modality]] = Registry(
    "modality", group="polymodal.modalities", builtins=_BUILTIN_MODALITIES, base=Modality
)
#: Tokenizers by name; plugins add theirs through the ``polymodal.tokenizers`` entry-point group.
TOKENIZERS: Registry[type[Tokenizer]] = Registry(
    "tokenizer", group="polymodal.tokenizers", builtins=(*_BUILTIN_MODALITIES, "polymodal.modalities.image_stem"), base=Tokenizer
)


def can_read(spec: type[Modality], path: str | Path) -> bool:
    """Whether ``spec``'s reader takes ``path`` (by suffix; a folder if it reads folders)."""
    if Path(path).is_dir():
        return spec.reads_folders
    name = Path(path).name.lower()
    return any(name.endswith(ext) for ext in (*spec.extensions, *spec.reads, *spec.archive_extensions))


def modality_for_file(path: str | Path) -> type[Modality]:
    """The modality whose extensions include ``path``'s suffix (``.tar.gz``-style too)."""
    name = Path(path).name.lower()
    matches = [MODALITIES.get(m) for m in MODALITIES.names()]
    for spec in sorted(matches, key=lambda s: -max((len(e) for e in s.extensions), default=0)):
        if any(name.endswith(ext) for ext in spec.extensions):
            return spec
    known = sorted({e for s in matches for e in s.extensions})
    raise InputError(str(path), f"a file with one of the suffixes {', '.join(known)}", Path(path).suffix or "no suffix")
