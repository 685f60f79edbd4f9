"""Point cloud transform (centre + unit-sphere scaling, optional subsampling) and collate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from polymodal.configurable import Configurable
from polymodal.errors import InputError
from polymodal.modalities._common import lengths_to_mask, pad_sequences
from polymodal.modalities.base import Batch
from polymodal.modalities.point_cloud.grouping import PointGrouping, PointGroups, group_points
from polymodal.modalities.point_cloud.io import PointCloud

__all__ = ["PointCloudTransform", "PointSample", "PointCloudBatch", "collate_point_clouds", "normalize_unit_sphere"]


def normalize_unit_sphere(xyz: np.ndarray) -> np.ndarray:
    """Centre ``[P, 3]`` on its centroid and scale so that the farthest point lies on the unit sphere."""
    centred = xyz - xyz.mean(axis=0, keepdims=True)
    radius = float(np.sqrt((centred**2).sum(axis=1)).max())
    return centred / radius if radius > 0 else centred


@dataclass
class PointSample:
    """One cloud: ``points [P, 3 + c]`` float32 tensor."""

    points: Tensor


@dataclass
class PointCloudTransform(Configurable):
    """``PointCloud`` (or ``[P, 3 + c]`` array) → :class:`PointSample`.

    Args:
        feature_channels: c, the per-point features expected after x, y, z (0: xyz only);
            a cloud with another count raises. ``None`` accepts any.
        normalize: centre and scale xyz to the unit sphere (features are left as they are).
        max_points: keep at most this many points (a seeded random subset, so reruns agree).
        seed: seed of that subset.
    """

    feature_channels: int | None = 0
    normalize: bool = True
    max_points: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.feature_channels is not None and (not isinstance(self.feature_channels, int) or self.feature_channels < 0):
            raise InputError("feature_channels", "a non-negative integer or None", self.feature_channels)
        if self.max_points is not None and (not isinstance(self.max_points, int) or self.max_points < 1):
            raise InputError("max_points", "a positive integer or None", self.max_points)

    def __call__(self, cloud: PointCloud | np.ndarray) -> PointSample:
        if not isinstance(cloud, PointCloud):
            cloud = PointCloud(np.asarray(cloud, dtype=np.float32))
        points = np.asarray(cloud.points, dtype=np.float32)
        if points.ndim != 2 or points.shape[1] < 3 or points.shape[0] == 0:
            raise InputError(cloud.source, "points [P, 3 + c]", points)
        if not np.isfinite(points).all():
            raise InputError(cloud.source, "finite values (no NaN or inf)", "NaN or inf values")
        if self.feature_channels is not None and points.shape[1] != 3 + self.feature_channels:
            raise InputError(
                cloud.source, f"{3 + self.feature_channels} values per point (xyz + {self.feature_channels})", f"{points.shape[1]}"
            )
        if self.max_points is not None and points.shape[0] > self.max_points:
            keep = np.sort(np.random.default_rng(self.seed).choice(points.shape[0], self.max_points, replace=False))
            points = points[keep]
        if self.normalize:
            points = points.copy()
            points[:, :3] = normalize_unit_sphere(points[:, :3].astype(np.float64)).astype(np.float32)
        return PointSample(torch.from_numpy(np.ascontiguousarray(points)))


@dataclass
class PointCloudBatch(Batch):
    """Clouds of different sizes: ``points [B, P, 3 + c]`` (zero padded) and ``lengths [B]``;
    ``groups``, the point tokenizer's centres and neighbours when the collate computed them."""

    points: Tensor
    lengths: Tensor
    groups: PointGroups | None = None

    @property
    def mask(self) -> Tensor:
        """``[B, P]`` True at real points."""
        return lengths_to_mask(self.lengths, self.points.shape[1]).to(self.points.device)


def collate_point_clouds(samples: Sequence[PointSample], grouping: PointGrouping | None = None) -> PointCloudBatch:
    """Pad ``[P_i, 3 + c]`` clouds to ``[B, max P_i, 3 + c]``.

    With ``grouping`` (a point tokenizer's ``.grouping``), also sample and group the batch
    here, so that farthest point sampling and kNN run in the data-loader workers:
    ``DataLoader(..., collate_fn=functools.partial(collate_point_clouds, grouping=tokenizer.grouping))``.
    """
    if any(not isinstance(s, PointSample) for s in samples):
        raise InputError("samples", "PointSample objects from PointCloudTransform", [type(s).__name__ for s in samples])
    widths = {s.points.shape[1] for s in samples}
    if len(widths) != 1:
        raise InputError("samples", "clouds with the same number of values per point", sorted(widths))
    points, lengths = pad_sequences([s.points for s in samples], dim=0)
    groups = None if grouping is None else group_points(points[..., :3], lengths, grouping)
    return PointCloudBatch(points, lengths, groups)
