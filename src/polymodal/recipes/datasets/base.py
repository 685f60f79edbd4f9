"""The builder registry and the cache logic every built-in dataset shares.

A builder writes a dataset into an empty folder; :func:`build` gives it a temporary
folder beside the cache entry and renames it into place only when it is complete, so a
killed build never leaves a half-written dataset that looks finished. A marker file,
written last, records the builder's version and options; a later call with the same
ones reuses the folder.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from polymodal.errors import ConfigError
from polymodal.registry import Registry

__all__ = ["BUILDERS", "MARKER", "DatasetBuilder", "build", "default_root", "list_datasets"]

MARKER = ".polymodal-complete.json"


class DatasetBuilder:
    """A dataset's registry entry: subclass it, set ``version`` and ``write``, register it::

        @BUILDERS.register("tabular")
        class Tabular(DatasetBuilder):
            '''scikit-learn breast cancer and wine as CSV + schema.'''   # the description
            version = 1
            write = staticmethod(write)

    Attributes:
        name: the registry name (``"digits-av"``), also the cache folder's name; set by the registry.
        description: one line for ``polymodal datasets list``: the docstring's first line.
        version: bump it when the output changes, so that old caches are rebuilt.
        write: ``write(folder, **options) -> dict`` fills the empty ``folder`` and returns
            a summary (counts) that is stored in the marker; its keyword-only parameters
            are the builder's options.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.description = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @staticmethod
    def write(folder: Path, **options: Any) -> dict[str, Any]:  # pragma: no cover - each builder sets its own
        raise NotImplementedError

    @classmethod
    def resolve_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` completed with the builder's defaults; unknown names are refused."""
        signature = inspect.signature(cls.write)
        known = [p for p in list(signature.parameters.values())[1:] if p.kind is p.KEYWORD_ONLY]
        names = {p.name for p in known}
        for key in options:
            if key not in names:
                raise ConfigError(
                    f"build({cls.name!r}).{key}", f"one of the options {', '.join(sorted(names)) or '(none)'}", key
                )
        return {p.name: options.get(p.name, p.default) for p in known}


#: Dataset builders by name; plugins add theirs through the ``polymodal.datasets`` entry-point group.
BUILDERS: Registry[type[DatasetBuilder]] = Registry(
    "dataset",
    group="polymodal.datasets",
    builtins=tuple(f"polymodal.recipes.datasets.{m}" for m in ("digits_av", "tabular", "ucr")),
)


def default_root() -> Path:
    """``~/.cache/polymodal/datasets``: where datasets are built when no root is given."""
    return Path.home() / ".cache" / "polymodal" / "datasets"


def list_datasets() -> list[str]:
    """Names of the built-in datasets, sorted."""
    return BUILDERS.names()


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _matches(marker: dict[str, Any] | None, record: dict[str, Any]) -> bool:
    return marker is not None and all(marker.get(k) == v for k, v in record.items())


def build(name: str, root: str | Path | None = None, *, force: bool = False, **options: Any) -> Path:
    """Build the dataset ``name`` (or reuse a completed build) and return its folder.

    Args:
        name: one of :func:`list_datasets`.
        root: the cache folder that holds datasets; the dataset goes to ``root/name``.
            Default :func:`default_root`.
        force: rebuild even when a completed build with the same options exists.
        **options: the builder's own options (e.g. ``digits-av``'s ``variants``); a
            build with other options replaces the cached one.

    Returns:
        ``root/name``, holding ``manifest.jsonl`` (or one folder per sub-dataset, each
        with its manifest), ``classes.json`` and ``README.md``.
    """
    builder = BUILDERS.get(name, field="dataset")
    resolved = builder.resolve_options(options)
    # Through JSON and back, so that a tuple option compares equal to the list the marker holds.
    record = json.loads(json.dumps({"name": name, "version": builder.version, "options": resolved}))
    base = Path(root) if root is not None else default_root()
    target = base / name
    if not force and _matches(_read_marker(target), record):
        return target

    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}.building-", dir=base))
    try:
        start = time.perf_counter()
        summary = builder.write(scratch, **resolved)
        marker = {**record, "summary": summary, "seconds": round(time.perf_counter() - start, 2)}
        # The marker is written last: its presence means every other file is complete.
        (scratch / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if not force and _matches(_read_marker(target), record):
            # Another process (another DDP rank) completed the same build meanwhile.
            shutil.rmtree(scratch, ignore_errors=True)
            return target
        if target.exists():
            # Move the old build aside first: rename onto a non-empty folder fails.
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=base))
            os.replace(target, old / name)
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(scratch, target)
        except OSError:
            # Another process finished the same build first: use it if it is the same one.
            if _matches(_read_marker(target), record):
                shutil.rmtree(scratch, ignore_errors=True)
                return target
            raise
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return target
