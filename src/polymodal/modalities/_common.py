"""Small helpers every modality shares: finite checks, stable scaling, padding, file opening
with named errors and resource limits checked before anything is allocated."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from polymodal.errors import InputError
from polymodal.modalities import limits

__all__ = [
    "require_finite",
    "require_file",
    "read_bytes_limited",
    "pad_sequences",
    "lengths_to_mask",
    "load_numpy",
    "to_unit_range",
    "standardize",
]


def require_finite(values: np.ndarray | Tensor, field: str) -> None:
    """Raise :class:`InputError` naming ``field`` if ``values`` holds NaN or ±inf."""
    finite = torch.isfinite(values).all() if isinstance(values, Tensor) else np.isfinite(values).all()
    if not bool(finite):
        raise InputError(field, "finite values (no NaN or inf)", "NaN or inf values")


def require_file(path: str | Path) -> Path:
    """``path`` as a :class:`Path`, or an :class:`InputError` naming it when it is no file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(str(path), "an existing, readable file", "a folder" if p.is_dir() else "no such file")
    return p


def read_bytes_limited(path: str | Path, what: str = "a file") -> bytes:
    """The bytes of ``path``, refused beyond the ``text_bytes`` limit (text, tables, series)."""
    p = require_file(path)
    limits.check(str(path), "text_bytes", p.stat().st_size, f"{what} size in bytes")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InputError(str(path), "a readable file", exc.strerror or type(exc).__name__) from None


def to_unit_range(values: np.ndarray, source: str) -> np.ndarray:
    """Pixel-like values → float32 in [0, 1]: ``uint8``/``uint16`` by their full scale, ``bool``
    as 0/1, other integers and floats as they stand when already in [0, 1], else by the 8- or
    16-bit full scale their range fits; anything else (negative, beyond 65535, NaN/inf) raises,
    as guessing a scale would give a confident answer to a different image."""
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return values.astype(np.float32) / np.float32(255)
    if values.dtype == np.uint16:
        return values.astype(np.float32) / np.float32(65535)
    if values.dtype == np.bool_:
        return values.astype(np.float32)
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        raise InputError(source, "numeric pixel values", f"dtype {values.dtype}")
    if values.size == 0:
        return values.astype(np.float32)
    if np.issubdtype(values.dtype, np.floating):
        require_finite(values, source)
    low, high = float(values.min()), float(values.max())
    if low >= 0 and high <= 1:
        return values.astype(np.float32)
    for full_scale in (255.0, 65535.0):
        if low >= 0 and high <= full_scale:
            return (values.astype(np.float64) / full_scale).astype(np.float32)
    raise InputError(source, "pixel values in [0, 1], [0, 255] or [0, 65535]", f"values in [{low:.6g}, {high:.6g}]")


def standardize(values: np.ndarray, axis: int | tuple[int, ...], eps: float = 1e-6) -> np.ndarray:
    """``(values - mean) / std`` along ``axis``, stable for every finite input, as float32.

    Computed in float64 after dividing by the largest magnitude (so 1e308 or float32's
    maximum cannot overflow the sums), with the population std; a constant (or single-value)
    slice becomes zeros instead of 0/0. The result is finite for finite input.
    """
    x = np.asarray(values, dtype=np.float64)
    scale = np.max(np.abs(x), axis=axis, keepdims=True) if x.size else np.ones(1)
    scale = np.where(scale > 0, scale, 1.0)
    x = x / scale
    centred = x - x.mean(axis=axis, keepdims=True)
    std = centred.std(axis=axis, keepdims=True)
    out = np.where(std > eps, centred / np.where(std > eps, std, 1.0), 0.0)
    return out.astype(np.float32)


def _npy_header(handle: Any, source: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a ``.npy`` header, read without touching the data."""
    try:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(handle, max_header_size=10_000)
    except Exception as exc:  # numpy raises ValueError/SyntaxError/... for a broken header
        raise InputError(source, "a valid .npy header", f"unreadable ({type(exc).__name__}: {exc})") from None
    return tuple(int(n) for n in shape), dtype


def _check_array_claim(source: str, shape: tuple[int, ...], dtype: np.dtype, available: int) -> None:
    """The array a header claims fits the ``array_values`` limit and the bytes that hold it."""
    if dtype.hasobject:
        raise InputError(source, "an array of numbers (no Python objects)", f"dtype {dtype}")
    count = int(np.prod(shape, dtype=object)) if shape else 1
    limits.check(source, "array_values", count, "values in one array")
    if count * dtype.itemsize > available:
        raise InputError(source, f"data for the header's shape {list(shape)} ({count * dtype.itemsize:,} bytes)", f"{available:,} bytes")


def load_numpy(path: str | Path, key: str | None = None) -> np.ndarray:
    """One array from ``.npy`` or ``.npz`` (``key``, else the only/first array), errors naming the file.

    The header's shape is checked against the file's size and the ``array_values`` limit
    before the data is read, so a 100-byte file claiming a terabyte array is refused.
    """
    p = require_file(path)
    source = str(path)
    try:
        is_zip = zipfile.is_zipfile(p)
        if not is_zip:
            with open(p, "rb") as handle:
                shape, dtype = _npy_header(handle, source)
                _check_array_claim(source, shape, dtype, p.stat().st_size - handle.tell())
        else:
            with zipfile.ZipFile(p) as archive:
                for info in archive.infolist():
                    limits.check_expansion(f"{source}: {info.filename}", info.file_size, info.compress_size, "an array")
                    with archive.open(info) as member:
                        shape, dtype = _npy_header(member, f"{source}: {info.filename}")
                        _check_array_claim(f"{source}: {info.filename}", shape, dtype, info.file_size)
        loaded = np.load(p, allow_pickle=False)
    except InputError:
        raise
    except Exception as exc:  # numpy and zipfile raise several types for corrupt files
        raise InputError(source, "a valid .npy/.npz file", f"unreadable ({type(exc).__name__}: {exc})") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        names = list(loaded.files)
        if not names:
            raise InputError(str(path), "an .npz file with at least one array", "an empty archive")
        name = key if key is not None else names[0]
        if name not in names:
            raise InputError(str(path), f"an array named {name!r} (found {', '.join(names)})", "none")
        try:
            return loaded[name]
        except Exception as exc:
            raise InputError(str(path), "a valid .npz file", f"unreadable ({type(exc).__name__})") from None


def lengths_to_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """``[B]`` lengths → ``[B, max_len]`` bool mask, True at real positions."""
    n = int(lengths.max()) if max_len is None and lengths.numel() else (max_len or 0)
    return torch.arange(n, device=lengths.device)[None, :] < lengths[:, None]


def pad_sequences(items: Sequence[Tensor], dim: int = 0, value: float = 0.0) -> tuple[Tensor, Tensor]:
    """Stack tensors that differ only along ``dim``, padding with ``value``.

    Returns ``(padded [B, ...], lengths [B])``; the padded axis is ``dim + 1``.
    """
    if len(items) == 0:
        raise InputError("batch", "at least one sample", "an empty list")
    lengths = torch.tensor([t.shape[dim] for t in items], dtype=torch.long)
    n = int(lengths.max())
    out = []
    for t in items:
        pad = [0, 0] * (t.ndim - dim - 1) + [0, n - t.shape[dim]]
        out.append(torch.nn.functional.pad(t, pad, value=value))
    try:
        return torch.stack(out), lengths
    except RuntimeError:
        shapes = [tuple(t.shape) for t in items]
        raise InputError("batch", f"samples that differ only along axis {dim}", shapes) from None
