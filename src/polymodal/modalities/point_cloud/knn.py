"""k-nearest-neighbour grouping, batched and vectorised in torch, exact.

Clouds of different sizes share one padded tensor ``[B, P, 3]`` with a mask ``[B, P]``
(True = real point); padding is never grouped. Each centre's squared distances to every
point come from one batched matmul; the ``k`` smallest are then found by pruning whole
blocks of points, because CPU top-k over all ``P`` distances of every centre is what
dominates a plain implementation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from polymodal.errors import InputError

__all__ = ["knn_group"]

# Block widths for pruning, coarse to fine; each divides the one before.
_BLOCK_WIDTHS = (64, 8)
# A level is worth its pass when it keeps at most a quarter of the candidates.
_MIN_PRUNING = 4


def knn_group(points: Tensor, centres: Tensor, k: int, mask: Tensor | None = None) -> Tensor:
    """The ``k`` nearest real points of each centre, nearest first.

    Args:
        points: ``[B, P, 3]``; centres: ``[B, S, 3]``; mask: ``[B, P]`` True at real points.

    Returns:
        ``index [B, S, k]`` into ``points``. A cloud with fewer than ``k`` real points
        repeats each centre's nearest neighbour in the missing slots, which leaves a
        max-pool over the group unchanged.
    """
    if points.ndim != 3 or centres.ndim != 3 or points.shape[0] != centres.shape[0]:
        raise InputError("points/centres", "[B, P, 3] and [B, S, 3]", (tuple(points.shape), tuple(centres.shape)))
    b, p, _ = points.shape
    s = centres.shape[1]
    kk = min(k, p)
    widths = _pruning_plan(p, kk)
    padded = -(-p // widths[0]) * widths[0] if widths else p
    # ||c - x||² as one batched matmul over augmented vectors [c, 1, ||c||²]·[-2x, ||x||², 1].
    # Padding (and the points that fill the last block) get ||x||² = inf, so their distances
    # are inf without a masking pass.
    norms = points.square().sum(-1, keepdim=True)
    if mask is not None:
        norms = norms.masked_fill(~mask[..., None], float("inf"))
        points = points.masked_fill(~mask[..., None], 0.0)
    right = torch.cat([-2.0 * points, norms, points.new_ones(b, p, 1)], dim=-1)  # [B, P, 5]
    if padded > p:
        filler = right.new_zeros(b, padded - p, 5)
        filler[..., 3] = float("inf")
        right = torch.cat([right, filler], dim=1)
    right = right.transpose(1, 2)
    left = torch.cat([centres, centres.new_ones(b, s, 1), centres.square().sum(-1, keepdim=True)], dim=-1)
    # Chunks of centres keep each thread's share of the [B, chunk, P] distances about 4 MB.
    # One buffer serves every chunk: a fresh one per chunk costs page faults that measured
    # up to half the run time once the allocator has returned the memory to the system.
    chunk = min(s, max(1, (min(torch.get_num_threads(), 4) << 20) // max(1, b * padded)))
    buffer = left.new_empty(b * chunk * padded)
    dist = left.new_empty(b, s, kk)
    index = torch.empty(b, s, kk, dtype=torch.long, device=left.device)
    for s0 in range(0, s, chunk):
        c = min(chunk, s - s0)
        d = torch.bmm(left[:, s0 : s0 + c], right, out=buffer[: b * c * padded].view(b, c, padded))
        dist[:, s0 : s0 + c], index[:, s0 : s0 + c] = _smallest_k(d, kk, widths)
    if kk < k:
        index = torch.cat([index, index[..., :1].expand(-1, -1, k - kk)], dim=-1)
        dist = torch.cat([dist, dist.new_full((b, s, k - kk), float("inf"))], dim=-1)
    # Slots that only found padding (inf) repeat the nearest real neighbour.
    return torch.where(torch.isinf(dist), index[..., :1], index)


def _pruning_plan(p: int, k: int) -> list[int]:
    """Block widths to prune ``p`` candidates down to, each level keeping ``k`` blocks."""
    widths, n = [], p
    for width in _BLOCK_WIDTHS:
        if n >= _MIN_PRUNING * k * width:
            widths.append(width)
            n = k * width
    return widths


def _smallest_k(dist: Tensor, k: int, widths: list[int]) -> tuple[Tensor, Tensor]:
    """Exact ``k`` smallest of ``dist [B, C, P]`` along the last axis, sorted: ``(values, index)``.

    Each level views the candidates as blocks of ``width`` and keeps the ``k`` blocks with
    the smallest minima. That is exact: those blocks hold at least ``k`` values at or below
    ``tau``, the largest of their minima, and every other block's values lie at or above it.
    Top-k over 128 block minima, then 128, then 128 candidates (P = 8192, k = 16) replaces
    top-k over 8192, about 2.3x faster on a CPU, where top-k is a scalar partial sort.
    """
    b, c, _ = dist.shape
    levels = []
    candidates = dist
    for width in widths:
        blocks = candidates.shape[-1] // width
        chosen = candidates.view(b, c, blocks, width).amin(dim=-1).topk(k, dim=-1, largest=False, sorted=False).indices
        # Whole blocks are contiguous rows: index_select copies them ~3x faster than gather.
        rows = chosen + torch.arange(0, b * c * blocks, blocks, device=dist.device).view(b, c, 1)
        candidates = candidates.reshape(-1, width).index_select(0, rows.view(-1)).view(b, c, k * width)
        levels.append((chosen, width))
    value, position = candidates.topk(k, dim=-1, largest=False, sorted=True)
    for chosen, width in reversed(levels):  # candidate position -> position one level up
        position = torch.gather(chosen, 2, position // width) * width + position % width
    return value, position
