"""Training-time augmentation of point clouds: rotation, scaling, jitter, point dropout.

The usual recipe of PointNet / PointNet++ (Qi et al., 2017): a random rotation about the
up axis (or any rotation), an isotropic scale, Gaussian jitter clipped at three stds, and
random point dropout that replaces dropped points by the first point, so the count stays.
Only x, y, z change; per-point features are kept.
"""

from __future__ import annotations

import math
from dataclasses import InitVar, dataclass
from typing import Literal

import torch

from polymodal.errors import ConfigError
from polymodal.modalities._augment import check_probability, uniform
from polymodal.modalities.point_cloud.transform import PointSample

__all__ = ["PointCloudAugment", "random_rotation"]


def random_rotation(kind: Literal["z", "so3"], generator: torch.Generator) -> torch.Tensor:
    """``[3, 3]`` a rotation about z by a uniform angle, or a uniform rotation of SO(3) (QR of a Gaussian matrix)."""
    if kind == "z":
        angle = uniform(0.0, 2 * math.pi, generator)
        c, s = math.cos(angle), math.sin(angle)
        return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))[None, :]  # unique Q: Haar-distributed
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.float()


@dataclass
class PointCloudAugment:
    """Args:
        rotate: ``"z"`` (about the up axis), ``"so3"`` (any rotation) or ``"none"``.
        scale: ``[low, high]`` of an isotropic factor drawn uniformly.
        jitter: std of Gaussian noise per coordinate (clipped at 3 std).
        dropout: drop a share of the points drawn uniformly in ``[0, dropout]``.

    ``aug(sample, generator)``: :class:`PointSample` ``[P, 3 + c]`` → the same shape.
    """

    rotate: Literal["none", "z", "so3"] = "none"
    scale: tuple[float, float] = (1.0, 1.0)
    jitter: float = 0.0
    dropout: float = 0.0
    field: InitVar[str] = "augment.point_cloud"

    def __post_init__(self, field: str) -> None:
        if self.rotate not in ("none", "z", "so3"):
            raise ConfigError(f"{field}.rotate", "'none', 'z' or 'so3'", self.rotate)
        self.scale = tuple(float(v) for v in self.scale)
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]:
            raise ConfigError(f"{field}.scale", "[low, high] with 0 < low <= high", list(self.scale))
        if self.jitter < 0:
            raise ConfigError(f"{field}.jitter", "a non-negative std", self.jitter)
        check_probability(self.dropout, f"{field}.dropout")

    def __call__(self, sample: PointSample, generator: torch.Generator) -> PointSample:
        points = sample.points.clone()
        xyz = points[:, :3]
        if self.rotate != "none":
            xyz = xyz @ random_rotation(self.rotate, generator).T
        if self.scale != (1.0, 1.0):
            xyz = xyz * uniform(*self.scale, generator)
        if self.jitter:
            xyz = xyz + (self.jitter * torch.randn(xyz.shape, generator=generator)).clamp(-3 * self.jitter, 3 * self.jitter)
        points[:, :3] = xyz
        if self.dropout:
            share = uniform(0.0, self.dropout, generator)
            dropped = torch.rand(points.shape[0], generator=generator) < share
            dropped[0] = False
            points[dropped] = points[0].clone()
        return PointSample(points)
