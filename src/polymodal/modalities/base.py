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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor, nn

from pydantic import Field

from polymodal.configurable import Config, Configurable
from polymodal.errors import ConfigError, InputError
from polymodal.registry import Registry
from polymodal.tokens import Tokens

__all__ = ["Batch", "Tokenizer", "Modality", "TokenizerSpec", "MODALITIES", "TOKENIZERS", "modality_for_file"]


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
        read: ``read(path) -> raw``.
        transform: the transform class; ``transform(**options)`` builds one.
        collate: ``collate(list[sample]) -> Batch``.
        default_tokenizer: key in :data:`TOKENIZERS` used when a config names none.
        description: one line for listings and docs: the docstring's first line.
    """

    name: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
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


def modality_for_file(path: str | Path) -> type[Modality]:
    """The modality whose extensions include ``path``'s suffix (``.tar.gz``-style too)."""
    name = Path(path).name.lower()
    matches = [MODALITIES.get(m) for m in MODALITIES.names()]
    for spec in sorted(matches, key=lambda s: -max((len(e) for e in s.extensions), default=0)):
        if any(name.endswith(ext) for ext in spec.extensions):
            return spec
    known = sorted({e for s in matches for e in s.extensions})
    raise InputError(str(path), f"a file with one of the suffixes {', '.join(known)}", Path(path).suffix or "no suffix")
