"""Atomic file writes and JSON, in one place for every layer.

A reader of a file written here sees either the old file or the complete new one, never a
partial write: the bytes go to a temporary file in the same folder, are fsync'ed, and the
temporary file is renamed over the target, after which the folder itself is fsync'ed so
that the rename survives a crash.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from polymodal.errors import CheckpointError

__all__ = ["atomic_write", "atomic_write_text", "fsync_dir", "read_json", "write_json"]


def fsync_dir(path: str | Path) -> None:
    """Make renames inside ``path`` durable (a crash right after could otherwise lose them)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Any], None], *, binary: bool = True) -> Path:
    """Write ``path`` through ``write(file)`` into a temporary file, fsync, then rename."""
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
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """``text`` (UTF-8) written atomically to ``path``."""
    return atomic_write(path, lambda f: f.write(text), binary=False)


def write_json(path: str | Path, data: Any, *, sort_keys: bool = True) -> Path:
    """``data`` as indented JSON (UTF-8, non-ASCII kept), written atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> dict[str, Any]:
    """A JSON object from ``path``; a missing, unreadable or malformed file raises CheckpointError."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(str(path), "an existing JSON file", "no such file") from None
    except IsADirectoryError:
        raise CheckpointError(str(path), "a JSON file", "a directory") from None
    except UnicodeDecodeError:
        raise CheckpointError(str(path), "UTF-8 JSON", "bytes that are not UTF-8") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(str(path), "valid JSON", str(exc) if isinstance(exc, json.JSONDecodeError) else "nesting too deep") from None
    except OSError as exc:
        raise CheckpointError(str(path), "a readable file", exc.strerror or type(exc).__name__) from None
    if not isinstance(data, dict):
        raise CheckpointError(str(path), "a JSON object", type(data).__name__)
    return data
