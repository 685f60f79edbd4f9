"""Farthest point sampling and k-nearest-neighbour grouping, batched and vectorised in torch.

Clouds of different sizes share one padded tensor ``[B, P, 3]`` with a mask ``[B, P]``
(True = real point); padding is never sampled nor grouped. The loops run over the
number of centres only (FPS is sequential by nature); every step works on the whole batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from polymodal.errors import InputError

__all__ = ["farthest_point_sample", "knn_group", "gather_points"]


def gather_points(values: Tensor, index: Tensor) -> Tensor:
    """``values [B, P, C]`` at ``index [B, ...]`` → ``[B, ..., C]``."""
    b, c = values.shape[0], values.shape[-1]
    flat = index.reshape(b, -1)  # [B, M]
    out = torch.gather(values, 1, flat[..., None].expand(-1, -1, c))
    return out.reshape(*index.shape, c)


def farthest_point_sample(
    points: Tensor, num_samples: int | Tensor, mask: Tensor | None = None, *, start: int = 0
) -> tuple[Tensor, Tensor]:
    """Iterative farthest point sampling.

    Args:
        points: ``[B, P, 3]`` coordinates (padded clouds).
        num_samples: centres per cloud, an int or ``[B]`` counts (clouds of different sizes).
        mask: ``[B, P]`` True at real points; None means all real.
        start: index of the first centre (deterministic, as PointNet++'s CUDA kernel starts at 0).

    Returns:
        ``(index [B, S], sample_mask [B, S])`` with ``S = max(num_samples)``; entries past a
        cloud's count repeat its first centre and are False in ``sample_mask``. The first
        ``n`` centres do not depend on how many more are drawn, so a cloud samples the same
        centres alone as in a batch.
    """
    if points.ndim != 3 or points.shape[-1] != 3:
        raise InputError("points", "coordinates [B, P, 3]", points)
    b, p, _ = points.shape
    device = points.device
    if mask is None:
        mask = torch.ones(b, p, dtype=torch.bool, device=device)
    counts = torch.as_tensor(num_samples, device=device).expand(b) if not isinstance(num_samples, Tensor) else num_samples.to(device)
    real = mask.sum(dim=1)
    if bool((counts > real).any()) or bool((counts < 1).any()):
        i = int(torch.nonzero((counts > real) | (counts < 1))[0])
        raise InputError("num_samples", f"between 1 and the cloud's {int(real[i])} points (cloud {i})", int(counts[i]))
    s = int(counts.max())
    # The first real point of each cloud (``start`` when it is real).
    first = torch.where(mask[:, start], torch.full((b,), start, device=device), mask.long().argmax(dim=1))
    # argmax over [B, P] is a slow, scalar kernel on CPU; a vectorised max over blocks, an
    # argmax over the block maxima and one inside the winning block find the same (first)
    # index about 4x faster. The points are padded to whole blocks.
    block = 1 << ((p - 1).bit_length() + 1) // 2  # about sqrt(P), a power of two
    blocks = -(-p // block)
    padded = blocks * block
    # Squared distance to the nearest chosen centre; padding at -inf is never the farthest.
    nearest = torch.full((b, padded), float("-inf"), dtype=points.dtype, device=device)
    nearest[:, :p].masked_fill_(mask, float("inf"))
    # Coordinates as three contiguous [B, P] planes and preallocated buffers: each step is
    # a handful of in-place kernels over the whole batch (about 5x faster than [B, P, 3] math).
    planes = points.new_zeros(3, b, padded)
    planes[:, :, :p] = points.permute(2, 0, 1)
    dist = torch.empty_like(nearest)
    diff = torch.empty_like(nearest)
    nearest_blocks = nearest.view(b, blocks, block)
    block_rows = nearest.view(b * blocks, block)
    block_offsets = torch.arange(b, device=device) * blocks
    current = first
    rows = torch.arange(b, device=device)
    chosen = []
    for _ in range(s):
        chosen.append(current)
        centre = planes[:, rows, current]  # [3, B]
        torch.sub(planes[0], centre[0, :, None], out=dist)
        dist.mul_(dist)
        for axis in (1, 2):
            torch.sub(planes[axis], centre[axis, :, None], out=diff)
            dist.addcmul_(diff, diff)
        torch.minimum(nearest, dist, out=nearest)
        best_block = nearest_blocks.amax(dim=2).argmax(dim=1)  # [B]
        within = block_rows.index_select(0, best_block + block_offsets).argmax(dim=1)
        current = best_block * block + within
    index = torch.stack(chosen, dim=1)  # [B, S]
    sample_mask = torch.arange(s, device=device)[None, :] < counts[:, None]
    index = torch.where(sample_mask, index, index[:, :1])
    return index, sample_mask


# kNN scans each centre's distances in blocks of this many points; with at least
# ``_KNN_MIN_BLOCKS_PER_K * k`` blocks, pruning whole blocks beats one top-k over every point.
_KNN_BLOCK = 32
_KNN_MIN_BLOCKS_PER_K = 4


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
    pruned = p >= _KNN_MIN_BLOCKS_PER_K * kk * _KNN_BLOCK
    padded = -(-p // _KNN_BLOCK) * _KNN_BLOCK if pruned else p
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
        if pruned:
            dist[:, s0 : s0 + c], index[:, s0 : s0 + c] = _knn_in_nearest_blocks(d, kk)
        else:
            dist[:, s0 : s0 + c], index[:, s0 : s0 + c] = d.topk(kk, dim=-1, largest=False, sorted=True)
    if kk < k:
        index = torch.cat([index, index[..., :1].expand(-1, -1, k - kk)], dim=-1)
        dist = torch.cat([dist, dist.new_full((b, s, k - kk), float("inf"))], dim=-1)
    # Slots that only found padding (inf) repeat the nearest real neighbour.
    return torch.where(torch.isinf(dist), index[..., :1], index)


def _knn_in_nearest_blocks(dist: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Exact top-``k`` smallest of ``dist [B, C, P]`` (P a multiple of the block), sorted.

    The ``k`` blocks with the smallest minima hold at least ``k`` points at or below
    ``tau``, the largest of those minima, while every other block's points lie at or above
    it: so the ``k`` nearest are among the ``k`` blocks' points. Two small top-k calls (over
    block minima, then over ``k`` blocks' points) replace one over all ``P``, which CPU
    top-k makes the dominant cost (about 2x faster at P = 8192).
    """
    b, c, p = dist.shape
    blocks = dist.view(b, c, p // _KNN_BLOCK, _KNN_BLOCK)
    chosen = blocks.amin(dim=-1).topk(k, dim=-1, largest=False, sorted=False).indices  # [B, C, k]
    candidates = torch.gather(blocks, 2, chosen[..., None].expand(-1, -1, -1, _KNN_BLOCK)).view(b, c, k * _KNN_BLOCK)
    value, slot = candidates.topk(k, dim=-1, largest=False, sorted=True)
    index = torch.gather(chosen, 2, slot // _KNN_BLOCK) * _KNN_BLOCK + slot % _KNN_BLOCK
    return value, index
