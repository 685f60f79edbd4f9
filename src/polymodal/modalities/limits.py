"""Resource limits of the readers: how large an input may be before it is refused.

A file's header can claim far more than the file holds (a 100-byte PNG that says
100,000 × 100,000 pixels, a 10-byte edge list naming node 1,000,000); a reader that
believed it would allocate terabytes. Every reader checks what a file claims against these
limits *before* allocating, and refuses with an :class:`~polymodal.errors.InputError` that
names the limit and how to raise it.

The limits, their defaults and environment variables (read once, at first use):

=====================  ===============  ====================================================
field                  default          what it bounds
=====================  ===============  ====================================================
``image_pixels``       50,000,000       height × width × pages of one image (and of a
                                        multi-channel cube: H × W × C values / 4)
``audio_seconds``      600              duration of one audio clip
``graph_nodes``        2,048            nodes of one graph (Graphormer attends over all
                                        node pairs: the transform holds N × N tables)
``graph_edges``        2,000,000        edges of one graph
``point_cloud_points`` 5,000,000        points of one cloud
``video_frames``       10,000           frames of one clip
``array_values``       100,000,000      values in one ``.npy``/``.npz`` array (before loading)
``text_bytes``         50,000,000       bytes of a text, table, series or ``.ts`` file
``json_depth``         64               nesting depth of one manifest line
=====================  ===============  ====================================================

Set one for a process with ``POLYMODAL_LIMIT_<FIELD>`` (``POLYMODAL_LIMIT_IMAGE_PIXELS=2e8``),
or for a block of code with ``with polymodal.modalities.limits.raised(image_pixels=2e8): ...``.
Besides the limits, a file whose header claims far more data than its size can hold
(more than :data:`MAX_EXPANSION` decoded bytes per stored byte, beyond a small floor) is
refused as inconsistent: no real compression reaches that ratio, so no input file smaller
than 1 KB makes a reader allocate more than a few tens of MB.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

from polymodal.errors import ConfigError, InputError

__all__ = ["ReadLimits", "current", "raised", "check", "check_expansion", "MAX_EXPANSION"]

# Decoded bytes per stored byte above which a header is not believed (deflate tops out near
# 1032:1, JPEG and LZW lower); beyond a floor that small legitimate files stay under.
MAX_EXPANSION = 2048
_EXPANSION_FLOOR = 16 * 2**20


@dataclass(frozen=True)
class ReadLimits:
    """The readers' limits (see the module docstring for what each bounds)."""

    image_pixels: int = 50_000_000
    audio_seconds: float = 600.0
    graph_nodes: int = 2_048
    graph_edges: int = 2_000_000
    point_cloud_points: int = 5_000_000
    video_frames: int = 10_000
    array_values: int = 100_000_000
    text_bytes: int = 50_000_000
    json_depth: int = 64


def _from_environment() -> ReadLimits:
    values = {}
    for f in fields(ReadLimits):
        name = f"POLYMODAL_LIMIT_{f.name.upper()}"
        text = os.environ.get(name)
        if text is None:
            continue
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(name, "a positive number", repr(text)) from None
        if not number > 0:
            raise ConfigError(name, "a positive number", repr(text))
        values[f.name] = number if f.type in (float, "float") else int(number)
    return ReadLimits(**values)


_CURRENT: contextvars.ContextVar[ReadLimits | None] = contextvars.ContextVar("polymodal_read_limits", default=None)
_DEFAULT: list[ReadLimits] = []


def current() -> ReadLimits:
    """The limits in force: those of an enclosing :func:`raised`, else the environment's."""
    limits = _CURRENT.get()
    if limits is not None:
        return limits
    if not _DEFAULT:
        _DEFAULT.append(_from_environment())
    return _DEFAULT[0]


@contextlib.contextmanager
def raised(**changes: float) -> Iterator[ReadLimits]:
    """Other limits for the code in the ``with`` block (this thread or task only)."""
    unknown = sorted(set(changes) - {f.name for f in fields(ReadLimits)})
    if unknown:
        raise ConfigError(f"limits.{unknown[0]}", f"one of {', '.join(f.name for f in fields(ReadLimits))}", "an unknown limit")
    token = _CURRENT.set(replace(current(), **changes))
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


def check(source: str, field: str, value: float, what: str) -> None:
    """Raise :class:`InputError` when ``value`` exceeds the limit ``field``."""
    limit = getattr(current(), field)
    if value > limit:
        raise InputError(
            source,
            f"{what} within the limit {field}={limit:,} (raise it with POLYMODAL_LIMIT_{field.upper()})",
            f"{value:,}" if isinstance(value, int) else f"{value:,.6g}",
        )


def check_expansion(source: str, decoded_bytes: int, file_bytes: int, what: str) -> None:
    """Raise :class:`InputError` when a header claims more decoded data than the file can hold."""
    if decoded_bytes > max(_EXPANSION_FLOOR, MAX_EXPANSION * file_bytes):
        raise InputError(
            source,
            f"{what} that its {file_bytes:,}-byte file can hold",
            f"a header claiming {decoded_bytes:,} bytes of data (a truncated file or a decompression bomb)",
        )
