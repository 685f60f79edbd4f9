"""The point tokenizer's sampling and grouping: which centres, and which neighbours each.

Both set-abstraction stages sample and group by coordinates alone (stage 2 works on stage
1's centres, which are points of the cloud), so nothing here is learnable. It can run on
a collated batch in the data-loader workers (``collate_point_clouds(samples,
grouping=...)``), as other modalities' non-learnable work does, or on the model's device
inside :class:`~polymodal.modalities.point_cloud.PointTokenizer` when the batch holds no
groups: batched FPS and kNN on a GPU are fast enough that workers gain nothing there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from polymodal.errors import InputError
from polymodal.modalities.base import Batch
from polymodal.modalities.point_cloud.knn import knn_group
from polymodal.modalities.point_cloud.sampling import farthest_point_sample, gather_points

__all__ = ["PointGrouping", "PointGroups", "centre_counts", "group_points"]


@dataclass(frozen=True)
class PointGrouping:
    """How the two stages sample and group.

    Args:
        ratio: centres = ceil(points / ratio) per stage (Meta-Transformer: 4).
        k: neighbours per centre, in both stages.
        num_centres: fixed ``(S1, S2)`` centres instead of the ratio; a cloud with fewer
            points than S1 raises :class:`InputError`.
    """

    ratio: int = 4
    k: int = 16
    num_centres: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.ratio < 1:
            raise InputError("ratio", "a positive integer", self.ratio)
        if self.k < 1:
            raise InputError("k", "a positive number of neighbours", self.k)
        if self.num_centres is not None:
            s1, s2 = (int(n) for n in self.num_centres)
            if s1 < 1 or s2 < 1:
                raise InputError("num_centres", "two positive counts (S1, S2)", self.num_centres)
            object.__setattr__(self, "num_centres", (s1, s2))


@dataclass
class PointGroups(Batch):
    """Both stages' centres and neighbours for a batch of clouds.

    Stage ``i`` (1 or 2): ``index{i} [B, S_i]`` centres among the stage's points (the
    cloud's points, then stage 1's centres), ``mask{i} [B, S_i]`` True at real centres,
    ``neighbours{i} [B, S_i, k]`` each centre's nearest points, nearest first.
    """

    grouping: PointGrouping
    index1: Tensor
    mask1: Tensor
    neighbours1: Tensor
    index2: Tensor
    mask2: Tensor
    neighbours2: Tensor

    def stage(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        """``(index, mask, neighbours)`` of stage ``i`` (1 or 2)."""
        return getattr(self, f"index{i}"), getattr(self, f"mask{i}"), getattr(self, f"neighbours{i}")


def centre_counts(lengths: Tensor, grouping: PointGrouping) -> tuple[Tensor, Tensor]:
    """Centres per cloud in stages 1 and 2, ``([B], [B])``, from the clouds' point counts ``[B]``."""
    if grouping.num_centres is None:
        s1 = (lengths + grouping.ratio - 1) // grouping.ratio  # ceil(P_i / ratio), at least one
        return s1, (s1 + grouping.ratio - 1) // grouping.ratio
    s1, s2 = grouping.num_centres
    if bool((lengths < s1).any()):
        raise InputError("batch.points", f"clouds of at least {s1} points (num_centres)", lengths.tolist())
    return torch.full_like(lengths, s1), torch.full_like(lengths, min(s1, s2))


@torch.no_grad()
def group_points(xyz: Tensor, lengths: Tensor, grouping: PointGrouping) -> PointGroups:
    """Sample and group both stages: farthest point sampling, then each centre's ``k`` nearest.

    Args:
        xyz: ``[B, P, 3]`` coordinates, zero padded; lengths: ``[B]`` real points per cloud.
        grouping: the tokenizer's :class:`PointGrouping`.
    """
    if xyz.ndim != 3 or xyz.shape[-1] != 3:
        raise InputError("xyz", "coordinates [B, P, 3]", xyz)
    lengths = lengths.to(xyz.device)
    mask = torch.arange(xyz.shape[1], device=xyz.device)[None, :] < lengths[:, None]
    counts = centre_counts(lengths, grouping)
    stages = []
    for count in counts:
        index, centre_mask = farthest_point_sample(xyz, count, mask)
        centres = gather_points(xyz, index)
        stages += [index, centre_mask, knn_group(xyz, centres, grouping.k, mask)]
        xyz, mask = centres, centre_mask
    return PointGroups(grouping, *stages)
