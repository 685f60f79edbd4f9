"""Small helpers every modality shares: finite checks, padding, file opening with named errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from polymodal.errors import InputError

__all__ = ["require_finite", "require_file", "pad_sequences", "lengths_to_mask", "load_numpy"]


def require_finite(values: np.ndarray | Tensor, field: str) -> None:
    """Raise :class:`InputError` naming ``field`` if ``values`` holds NaN or ±inf."""
    finite = torch.isfinite(values).all() if isinstance(values, Tensor) else np.isfinite(values).all()
    if not bool(finite):
        raise InputError(field, "finite values (no NaN or inf)", "NaN or inf values")


def require_file(path: str | Path) -> Path:
    """``path`` as a :class:`Path`, or an :class:`InputError` naming it when it is no file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(str(path), "an existing, readable file", "no such file")
    return p


def load_numpy(path: str | Path, key: str | None = None) -> np.ndarray:
    """One array from ``.npy`` or ``.npz`` (``key``, else the only/first array), errors naming the file."""
    p = require_file(path)
    try:
        loaded = np.load(p, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for corrupt files
        raise InputError(str(path), "a valid .npy/.npz file", f"unreadable ({type(exc).__name__}: {exc})") from None
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
