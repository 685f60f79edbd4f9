"""Position embeddings: learnable 1-D or 2-D grids, sinusoidal, and their interpolation.

Learnable tables are trained at one length (or image grid) and resampled when an input
is longer or an image larger, as timm's ``resample_abs_pos_embed`` does: linear
interpolation along a 1-D sequence, bicubic over a 2-D grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.errors import InputError

__all__ = [
    "sinusoidal_positions",
    "interpolate_positions",
    "interpolate_positions_2d",
    "LearnedPositions",
    "LearnedGridPositions",
    "SinusoidalPositions",
]


def sinusoidal_positions(length: int, dim: int, *, base: float = 10000.0, offset: int = 0) -> Tensor:
    """The fixed sin/cos table of "Attention Is All You Need": ``[length, dim]``.

    Even columns hold ``sin(p / base^(2i/dim))``, odd columns the matching cosine.
    """
    if dim % 2 != 0:
        raise InputError("dim", "an even width for sinusoidal positions", dim)
    position = torch.arange(offset, offset + length, dtype=torch.float32)[:, None]
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(base) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq)
    return table


def interpolate_positions(table: Tensor, length: int) -> Tensor:
    """Resample a 1-D table ``[N, D]`` to ``[length, D]`` by linear interpolation."""
    if table.shape[0] == length:
        return table
    resized = F.interpolate(table.T[None], size=length, mode="linear", align_corners=False)
    return resized[0].T


def interpolate_positions_2d(table: Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]) -> Tensor:
    """Resample a row-major 2-D grid table ``[H*W, D]`` to ``[H'*W', D]`` (bicubic)."""
    if tuple(old_grid) == tuple(new_grid):
        return table
    h, w = old_grid
    if table.shape[0] != h * w:
        raise InputError("table", f"{h}x{w}={h * w} positions for grid {old_grid}", f"{table.shape[0]} positions")
    grid = table.T.reshape(1, -1, h, w)
    dtype = grid.dtype
    # Bicubic in float32: it is not implemented for every half type on CPU.
    grid = F.interpolate(grid.float(), size=tuple(new_grid), mode="bicubic", align_corners=False).to(dtype)
    return grid.reshape(table.shape[1], -1).T


class LearnedPositions(nn.Module):
    """A learnable 1-D table ``pos_embed [1, N, D]``; longer inputs interpolate or fail.

    Inputs: ``length``. Returns ``[1, length, D]``.
    """

    def __init__(self, num_positions: int, dim: int, *, interpolate: bool = True, init_std: float = 0.02) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.randn(1, num_positions, dim) * init_std)
        self.interpolate = interpolate

    @property
    def num_positions(self) -> int:
        return self.pos_embed.shape[1]

    def forward(self, length: int) -> Tensor:
        # Shorter sequences use the first positions (position i keeps its meaning, as in
        # BERT); longer ones resample the whole table when interpolation is allowed.
        n = self.num_positions
        if length <= n:
            return self.pos_embed[:, :length]
        if not self.interpolate:
            raise InputError("sequence length", f"at most {n} tokens (positions are not interpolated)", length)
        return interpolate_positions(self.pos_embed[0], length)[None]


class LearnedGridPositions(nn.Module):
    """A learnable 2-D grid ``pos_embed [1, H*W, D]`` (row-major) for image patches.

    Inputs: ``grid = (h, w)``. Returns ``[1, h*w, D]``, bicubically resampled when
    ``(h, w)`` differs from the trained grid.
    """

    def __init__(self, grid: tuple[int, int], dim: int, *, interpolate: bool = True, init_std: float = 0.02) -> None:
        super().__init__()
        self.grid = (int(grid[0]), int(grid[1]))
        self.pos_embed = nn.Parameter(torch.randn(1, self.grid[0] * self.grid[1], dim) * init_std)
        self.interpolate = interpolate

    def forward(self, grid: tuple[int, int]) -> Tensor:
        grid = (int(grid[0]), int(grid[1]))
        if grid == self.grid:
            return self.pos_embed
        if not self.interpolate:
            raise InputError("patch grid", f"{self.grid} (positions are not interpolated)", grid)
        return interpolate_positions_2d(self.pos_embed[0], self.grid, grid)[None]


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal positions for any length; no parameters. Returns ``[1, length, D]``."""

    def __init__(self, dim: int, *, base: float = 10000.0) -> None:
        super().__init__()
        self.dim = dim
        self.base = base

    def forward(self, length: int) -> Tensor:
        return sinusoidal_positions(length, self.dim, base=self.base)[None]
