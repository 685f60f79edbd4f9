"""What every modality's training-time augmentation shares: option checks and the spatial
crop and flip of images and video frames.

An augmentation is a small dataclass of options, ``aug(sample, generator) -> sample``, that
never changes ``sample`` in place (the training set is held in memory and reused every
epoch) and draws every random number from ``generator``, so that a run's augmentations are a
pure function of its seed and step: a resumed run draws what the uninterrupted one drew.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from polymodal.errors import ConfigError

__all__ = ["SpatialAugment", "check_probability", "check_share", "uniform"]


def check_probability(value: float, field: str) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(field, "a probability in [0, 1)", value)


def check_share(value: float, field: str) -> None:
    if not 0.0 < value <= 1.0:
        raise ConfigError(field, "a share in (0, 1] (1: unchanged)", value)


def uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


class SpatialAugment:
    """A random crop of ``crop`` of the height and width, resized back (bilinear), and a
    horizontal flip with probability 1/2 when ``flip``; the same for every frame of a clip.

    Inputs: ``x [..., H, W]`` float. Returns ``[..., H, W]``.
    """

    def __init__(self, crop: float = 1.0, flip: bool = False, *, field: str = "augment") -> None:
        check_share(crop, f"{field}.crop")
        self.crop, self.flip = float(crop), bool(flip)

    def config(self) -> dict:
        return {"crop": self.crop, "flip": self.flip}

    def spatial(self, x: Tensor, generator: torch.Generator) -> Tensor:
        h, w = x.shape[-2:]
        if self.crop < 1.0:
            ch, cw = max(1, round(h * self.crop)), max(1, round(w * self.crop))
            top = int(torch.randint(0, h - ch + 1, (), generator=generator))
            left = int(torch.randint(0, w - cw + 1, (), generator=generator))
            window = x[..., top : top + ch, left : left + cw]
            lead = window.shape[:-2]
            x = F.interpolate(window.reshape(-1, 1, ch, cw), size=(h, w), mode="bilinear", align_corners=False).reshape(*lead, h, w)
        if self.flip and bool(torch.rand((), generator=generator) < 0.5):
            x = x.flip(-1)
        return x

    def __call__(self, image: Tensor, generator: torch.Generator) -> Tensor:
        """An image ``[C, H, W]``."""
        return self.spatial(image, generator)
