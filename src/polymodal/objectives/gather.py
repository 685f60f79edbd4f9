"""Gather features from every rank so a contrastive loss sees the global batch.

CLIP's negatives are the whole global batch, so each rank needs every other rank's
features. ``torch.distributed.all_gather`` returns tensors with no autograd history; we
put the local tensor back into its own slot ("local slice substitution", as open_clip
does with ``gather_with_grad=False``) so gradients flow to the local features only.

Why that is exact: every rank then computes the same global loss ``L``, and rank ``r``'s
autograd graph holds only its own features ``f_r``, so it computes ``dL/df_r`` exactly —
the gradient a single process with the global batch would give those rows. (DDP then
*averages* parameter gradients over ranks; shared parameters such as ``logit_scale`` get
the same value on every rank, so the average is exact for them too, while encoder
parameters receive ``1/world_size`` of the single-process gradient: a constant scale
that the learning rate absorbs, or multiply the loss by ``world_size`` to undo it.)
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from polymodal.errors import InputError

__all__ = ["is_distributed", "gather_features"]


def is_distributed() -> bool:
    """True inside an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_features(features: Tensor) -> tuple[Tensor, int]:
    """All-gather ``features [B, D]`` over ranks with gradients to the local rows.

    Every rank must pass the same ``B`` (all_gather needs equal shapes).

    Returns:
        ``(global_features [W*B, D], offset)``: the ranks' features in rank order and the
        row at which this rank's own ``B`` rows start. Without a process group (or with
        one rank) this is ``(features, 0)``: a no-op.
    """
    if not is_distributed():
        return features, 0
    if features.ndim < 1:
        raise InputError("features", "a tensor [B, ...]", features)
    world, rank = dist.get_world_size(), dist.get_rank()
    gathered = [torch.empty_like(features) for _ in range(world)]
    dist.all_gather(gathered, features.detach().contiguous())
    gathered[rank] = features  # keeps the autograd history of the local slice
    return torch.cat(gathered, dim=0), rank * features.shape[0]
