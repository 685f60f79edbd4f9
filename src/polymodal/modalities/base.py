"""The contract every modality follows: reader → transform → collate → tokenizer → Tokens.

A modality is one file in this package that defines
- a **reader**: ``read(path) -> raw`` (file → numpy array / tensor / object), raising
  :class:`~polymodal.errors.InputError` that names the file on bad input;
- a **transform**: a picklable callable class built from plain options, ``raw -> sample``,
  not learnable, so it runs in data-loader workers; ``transform.config()`` returns its
  options as a JSON-able dict so that preprocessing is saved with the weights;
- a **collate**: ``collate(list[sample]) -> Batch``, padding to the longest with a mask;
- one or more **tokenizers**: ``nn.Module`` subclasses of :class:`Tokenizer` with
  ``forward(batch) -> Tokens``, registered in :data:`TOKENIZERS`;

and registers a :class:`ModalitySpec` in :data:`MODALITIES`, so that a config can say
``modality: audio`` and ``polymodal predict`` can route a file by its extension.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from polymodal.errors import InputError
from polymodal.registry import Registry
from polymodal.tokens import Tokens

__all__ = ["Batch", "Tokenizer", "ModalitySpec", "MODALITIES", "TOKENIZERS", "modality_for_file"]


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


class Tokenizer(nn.Module):
    """Base class of data-to-sequence tokenizers (Meta-Transformer's ``f``).

    Subclasses set ``modality`` (registry name) and ``dim`` (output width D) and implement
    ``forward(batch) -> Tokens`` with embeddings ``[B, N, D]`` and mask ``[B, N]``.
    """

    modality: str = ""
    dim: int

    def forward(self, batch: Any) -> Tokens:  # pragma: no cover - abstract
        raise NotImplementedError

    def no_weight_decay(self) -> set[str]:
        """Names of parameters that an optimiser should not decay (positions, special tokens)."""
        return {name for name, _ in self.named_parameters() if "pos_embed" in name or name.endswith("token")}


@dataclass(frozen=True)
class ModalitySpec:
    """What the registry knows of a modality.

    Attributes:
        name: registry name (``"audio"``); also the manifest field that holds its files.
        extensions: lower-case file suffixes routed to this modality (``(".wav", ".flac")``).
        read: ``read(path) -> raw``.
        transform: the transform class; ``transform(**options)`` builds one.
        collate: ``collate(list[sample]) -> Batch``.
        default_tokenizer: key in :data:`TOKENIZERS` used when a config names none.
        description: one line for ``polymodal datasets``/docs.
    """

    name: str
    extensions: tuple[str, ...]
    read: Callable[[str | Path], Any]
    transform: type
    collate: Callable[[Sequence[Any]], Batch]
    default_tokenizer: str
    description: str = ""


MODALITIES: Registry[ModalitySpec] = Registry("modality")
TOKENIZERS: Registry[type[Tokenizer]] = Registry("tokenizer")


def modality_for_file(path: str | Path) -> ModalitySpec:
    """The modality whose extensions include ``path``'s suffix (``.tar.gz``-style too)."""
    name = Path(path).name.lower()
    matches = [MODALITIES.get(m) for m in MODALITIES.names()]
    for spec in sorted(matches, key=lambda s: -max((len(e) for e in s.extensions), default=0)):
        if any(name.endswith(ext) for ext in spec.extensions):
            return spec
    known = sorted({e for s in matches for e in s.extensions})
    raise InputError(str(path), f"a file with one of the suffixes {', '.join(known)}", Path(path).suffix or "no suffix")
