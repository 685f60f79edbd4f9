"""Name → factory registries, so that a config says ``modality: audio`` or ``fusion: cross_attention``.

Every pluggable family (modalities, fusion strategies, heads, objectives) owns one
:class:`Registry`. An unknown name raises :class:`~polymodal.errors.ConfigError` listing
the valid names, as open_clip and timm do for model names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from polymodal.errors import ConfigError

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Generic[T]):
    """A named collection of entries of one kind (classes, factories or specs).

    Args:
        kind: what the entries are, used in error messages (``"modality"``, ``"fusion"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``; a name may be registered once."""

        def add(obj: T) -> T:
            self.add(name, obj)
            return obj

        return add

    def add(self, name: str, obj: T) -> None:
        if name in self._entries and self._entries[name] is not obj:
            raise ConfigError(f"{self.kind} registry", f"a new name, '{name}' is already registered")
        self._entries[name] = obj

    def get(self, name: str, *, field: str | None = None) -> T:
        """The entry registered as ``name``; a ConfigError naming ``field`` lists the valid names."""
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "(none registered)"
            raise ConfigError(field or self.kind, f"one of {valid}", repr(name)) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
