"""Name → entry registries, so that a config says ``modality: audio`` or ``fusion: cross_attention``.

Every pluggable family (modalities, tokenizers, fusions, heads, objectives, models, tasks)
owns one :class:`Registry`, and every registry is filled the same way, the name written once::

    @TOKENIZERS.register("patch")
    class PatchTokenizer(Tokenizer): ...     # PatchTokenizer.name == "patch" afterwards

A registry fills itself on first use: it imports the modules that hold its built-in entries
(``builtins``), then the entry points of its group (``polymodal.modalities``, ...) that other
installed distributions declare, so a user's package adds a modality with no change to
polymodal (timm's ``register_model`` and Hugging Face's ``AutoModel.register`` are the
models; unlike ``trust_remote_code``, a saved model never names code to import). An unknown
name raises :class:`~polymodal.errors.ConfigError` listing the valid names, as open_clip and
timm do for model names.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from polymodal.errors import ConfigError

T = TypeVar("T")

__all__ = ["Registry", "Origin", "ENTRY_POINT_GROUPS", "origin_of", "plugin_distributions"]

#: Every entry-point group polymodal reads, for docs and ``polymodal plugins``.
ENTRY_POINT_GROUPS: list[str] = []


@dataclass(frozen=True)
class Origin:
    """The installed distribution an entry comes from (a plugin), recorded in saved models."""

    distribution: str
    version: str

    def to_dict(self) -> dict[str, str]:
        return {"distribution": self.distribution, "version": self.version}


@lru_cache(maxsize=1)
def _distributions_by_package() -> dict[str, list[str]]:
    # Top-level import name → distributions that ship it (read once: it scans site-packages).
    return importlib.metadata.packages_distributions()


@lru_cache(maxsize=1)
def plugin_distributions() -> frozenset[str]:
    """Names of the installed distributions that declare entry points in a ``polymodal.*``
    group (polymodal's own left out): the plugins."""
    return frozenset(
        dist.name
        for dist in importlib.metadata.distributions()
        if dist.name != "polymodal" and any(point.group.startswith("polymodal.") for point in dist.entry_points)
    )


def origin_of(obj: Any) -> Origin | None:
    """The plugin distribution that ships ``obj``'s module (``obj`` a class, function or
    instance); ``None`` for polymodal itself, for libraries that are no plugin (torch,
    numpy) and for code that no installed distribution ships (a script, a test module)."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    top = module.split(".")[0]
    if top in ("polymodal", "__main__", "builtins"):
        return None
    for name in _distributions_by_package().get(top, ()):
        if name in plugin_distributions():
            try:
                return Origin(name, importlib.metadata.version(name))
            except importlib.metadata.PackageNotFoundError:  # pragma: no cover - metadata without a version
                return None
    return None


class Registry(Generic[T]):
    """A named collection of entries of one kind (classes or functions).

    Args:
        kind: what the entries are, used in error messages (``"modality"``, ``"fusion"``).
        group: the entry-point group that plugins declare entries in (``"polymodal.fusions"``);
            an entry point's name is the registered name, its object the entry.
        builtins: modules that register polymodal's own entries; imported on first use, so
            that importing only the registry's module gives a whole registry.
        attribute: the attribute of each entry that receives its registered name
            (``"name"``; models use ``"model_type"``).
        base: the class every entry must subclass (``Modality``, ``Fusion``, ...); an entry
            point naming anything else is reported as a broken plugin.

    A plugin whose entry point fails (its module does not import, it names no
    ``base`` subclass, its name is taken) breaks nothing else: the registry warns once,
    leaves the name out of :meth:`names`, and :meth:`get` of that name raises a
    :class:`ConfigError` that says why (see :meth:`failures`).
    """

    def __init__(
        self,
        kind: str,
        *,
        group: str | None = None,
        builtins: Sequence[str] = (),
        attribute: str = "name",
        base: type | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self.builtins = tuple(builtins)
        self.attribute = attribute
        self.base = base
        self._entries: dict[str, T] = {}
        self._origins: dict[str, Origin] = {}
        self._failed: dict[str, str] = {}  # plugin entry-point name → why it failed to load
        self._loaded = False
        if group is not None and group not in ENTRY_POINT_GROUPS:
            ENTRY_POINT_GROUPS.append(group)

    # --- filling --------------------------------------------------------------------------
    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name`` and records the name on it."""

        def add(obj: T) -> T:
            self._add(name, obj)
            return obj

        return add

    def _add(self, name: str, obj: T, origin: Origin | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self.kind} registry", "a non-empty name", repr(name))
        if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise ConfigError(f"{self.kind} registry: {name}", f"a subclass of {self.base.__name__}", repr(obj))
        if name in self._entries and self._entries[name] is not obj:
            raise ConfigError(f"{self.kind} registry", f"a new name, '{name}' is already registered", repr(obj))
        other = next((n for n, entry in self._entries.items() if entry is obj and n != name), None)
        if other is not None:  # one name per entry: the name it carries must be the one it is found by
            raise ConfigError(f"{self.kind} registry: {name}", f"one name per entry, {obj!r} is already registered", repr(other))
        self._entries[name] = obj
        try:
            setattr(obj, self.attribute, name)
        except (AttributeError, TypeError):  # objects that take no attributes keep their own
            pass
        origin = origin or origin_of(obj)
        if origin is not None:
            self._origins[name] = origin

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a stand-in for their own duration)."""
        self._entries.pop(name, None)
        self._origins.pop(name, None)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # first: a builtin module that looks itself up must not recurse
        for module in self.builtins:
            importlib.import_module(module)
        if self.group is not None:
            for point in importlib.metadata.entry_points(group=self.group):
                self._load_entry_point(point)

    def _load_entry_point(self, point: importlib.metadata.EntryPoint) -> None:
        origin = None
        if point.dist is not None:
            origin = Origin(point.dist.name, point.dist.version)
        if origin is not None and origin.distribution == "polymodal":
            origin = None
        where = f"{point.value}" + (f" (from {origin.distribution} {origin.version})" if origin else "")
        try:
            obj = point.load()
        except Exception as exc:  # a broken plugin must not break every other registry user
            self._fail(point, f"{where} failed to load: {type(exc).__name__}: {exc}")
            return
        if point.name in self._entries and self._entries[point.name] is obj:
            # The plugin's module also registered it under this name: nothing more to do.
            if origin is not None:
                self._origins.setdefault(point.name, origin)
            return
        try:
            self._add(point.name, obj, origin)
        except ConfigError as exc:  # not a subclass of base, a name taken: the same, a broken plugin
            self._fail(point, f"{where} cannot be registered: expected {exc.expected}, got {exc.got}")

    def _fail(self, point: importlib.metadata.EntryPoint, why: str) -> None:
        self._failed.setdefault(point.name, why)
        warnings.warn(f"polymodal plugin {point.name!r} ({point.group}): {why}", RuntimeWarning, stacklevel=4)

    def failures(self) -> dict[str, str]:
        """Plugin entry-point name → why it could not be registered (empty when all loaded)."""
        self._load()
        return dict(self._failed)

    # --- lookup ---------------------------------------------------------------------------
    def get(self, name: str, *, field: str | None = None) -> T:
        """The entry registered as ``name``; a ConfigError naming ``field`` lists the valid names."""
        self._load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            if isinstance(name, str) and name in self._failed:
                raise ConfigError(field or self.kind, f"a working plugin for {name!r}", self._failed[name]) from None
            valid = ", ".join(sorted(self._entries)) or "(none registered)"
            raise ConfigError(field or self.kind, f"one of {valid}", repr(name)) from None

    def origin(self, name: str) -> Origin | None:
        """The plugin distribution that provides ``name``, or ``None`` for polymodal's own."""
        self._load()
        return self._origins.get(name)

    def name_of(self, obj: Any) -> str:
        """The name ``obj`` is registered under (``ConfigError`` if it is not registered)."""
        self._load()
        for name, entry in self._entries.items():
            if entry is obj:
                return name
        raise ConfigError(self.kind, f"a registered {self.kind}", repr(obj))

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, group={self.group!r})"
