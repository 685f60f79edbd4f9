"""Video: a folder of frame images or ``.npy``/``.npz`` ``[T, H, W, C]`` → tubelet tokens.

ViViT/VideoMAE tubelet embedding: a Conv3d with kernel = stride = ``t × S × S`` (default
2 × 16 × 16) turns a clip into ``ceil(T / t) × (H / S) × (W / S)`` tokens, time-major.
Space-time positions are learned, separable (time + space tables) or joint, sliced for
shorter clips and interpolated for longer clips or other frame sizes. Clips with fewer
frames than the longest in a batch are zero-padded and masked per tubelet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.encoder.positions import interpolate_positions, interpolate_positions_2d
from polymodal.errors import InputError
from polymodal.modalities._augment import SpatialAugment
from polymodal.modalities._common import lengths_to_mask, load_numpy, pad_sequences, to_unit_range
from polymodal.modalities import limits
from polymodal.modalities.base import MODALITIES, TOKENIZERS, Batch, Modality, Tokenizer
from polymodal.tokens import Tokens

__all__ = ["read_video", "VideoAugment", "VideoTransform", "VideoSample", "VideoBatch", "collate_video", "TubeletTokenizer"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def read_video(path: str | Path) -> np.ndarray:
    """Frames ``[T, H, W, C]``: from a folder of images (sorted by file name; ``C = 1`` when every
    frame is grey, else 3) or a ``.npy``/``.npz`` array.

    The frame count is checked against the ``video_frames`` limit and each frame image's
    header against ``image_pixels`` before decoding (:mod:`polymodal.modalities.limits`).
    """
    p, source = Path(path), str(path)
    if p.is_dir():
        from PIL import Image

        from polymodal.modalities.image import ClampedFile, check_image_claim

        files = sorted(f for f in p.iterdir() if f.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise InputError(source, "a folder with frame images (png, jpg, ...)", "no images")
        limits.check(source, "video_frames", len(files), "frames")
        images = []
        for f in files:
            try:
                with ClampedFile(f) as handle, Image.open(handle) as im:
                    check_image_claim(im, str(f), f.stat().st_size)
                    im.load()
                    images.append(im)
            except InputError:
                raise
            except Exception as exc:  # Pillow raises many types for a corrupt frame
                raise InputError(str(f), "a readable image frame", f"unreadable ({type(exc).__name__})") from None
        # Grey frames stay grey ([T, H, W, 1], transform channels=1): converting them to RGB
        # would triple the input of a model trained on grey clips, which then refuses them.
        grey = all(im.getbands() in (("L",), ("1",), ("I",), ("I;16",)) for im in images)
        frames = [np.asarray(im.convert("L" if grey else "RGB")) for im in images]
        frames = [fr[..., None] if fr.ndim == 2 else fr for fr in frames]
        if len({fr.shape for fr in frames}) != 1:
            raise InputError(source, "frames of one size", sorted({fr.shape[:2] for fr in frames}))
        return np.stack(frames)
    frames = load_numpy(path)
    if frames.ndim == 3:
        frames = frames[..., None]  # [T, H, W] grey
    if frames.ndim != 4 or min(frames.shape) == 0:
        raise InputError(source, "frames [T, H, W, C] with every size > 0", frames)
    limits.check(source, "video_frames", frames.shape[0], "frames")
    return frames


@dataclass
class VideoSample:
    """One clip ``frames [C, T, H, W]`` float32."""

    frames: Tensor


@dataclass
class VideoTransform(Configurable):
    """Frames ``[T, H, W, C]`` → normalised, resized, sampled :class:`VideoSample`.

    Args:
        size: output ``(H, W)`` (bilinear, antialiased when shrinking).
        num_frames: keep at most this many frames, sampled uniformly over the clip; shorter
            clips keep every frame (the batch masks the rest). None keeps all.
        frame_stride: take every n-th frame before that.
        channels: expected C (3 RGB, 1 grey); another count raises.
        mean, std: per-channel normalisation after scaling to [0, 1] (uint8 by 255, uint16
            by 65535; VideoMAE's ImageNet values).
    """

    size: tuple[int, int] = (224, 224)
    num_frames: int | None = 16
    frame_stride: int = 1
    channels: int = 3
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)

    def __post_init__(self) -> None:
        size = tuple(self.size) if isinstance(self.size, (tuple, list)) else ()
        if len(size) != 2 or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in size):
            raise InputError("size", "a pair (H, W) of positive integers", self.size)
        if not isinstance(self.frame_stride, int) or self.frame_stride < 1:
            raise InputError("frame_stride", "a positive integer", self.frame_stride)
        if self.num_frames is not None and (not isinstance(self.num_frames, int) or self.num_frames < 1):
            raise InputError("num_frames", "a positive integer or None", self.num_frames)
        if not isinstance(self.channels, int) or self.channels < 1:
            raise InputError("channels", "a positive integer", self.channels)
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise InputError("mean/std", f"{self.channels} values each (one per channel)", (self.mean, self.std))
        if not (np.isfinite(self.mean).all() and np.isfinite(self.std).all() and (np.asarray(self.std) > 0).all()):
            raise InputError("mean/std", "finite means and positive stds", (self.mean, self.std))

    def __call__(self, frames: np.ndarray) -> VideoSample:
        frames = np.asarray(frames)
        if frames.ndim != 4 or min(frames.shape) == 0:
            raise InputError("frames", "a clip [T, H, W, C] with every size > 0", frames)
        if frames.shape[-1] != self.channels:
            raise InputError("frames", f"{self.channels} channels (last axis)", f"{frames.shape[-1]} channels")
        # uint8 and uint16 by their full scale, floats by the range they fit: values in [0, 1].
        x = torch.from_numpy(np.ascontiguousarray(to_unit_range(frames, "frames")))
        x = x[:: self.frame_stride]
        if self.num_frames is not None and x.shape[0] > self.num_frames:
            index = torch.linspace(0, x.shape[0] - 1, self.num_frames).round().long()
            x = x[index]
        x = x.permute(0, 3, 1, 2)  # [T, C, H, W]
        if tuple(x.shape[-2:]) != tuple(self.size):
            x = F.interpolate(x, size=tuple(self.size), mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(self.mean, dtype=torch.float32)[None, :, None, None]
        std = torch.tensor(self.std, dtype=torch.float32)[None, :, None, None]
        return VideoSample(((x - mean) / std).transpose(0, 1).contiguous())  # [C, T, H, W]


class VideoAugment(SpatialAugment):
    """Training-time crop and flip of a clip (:class:`SpatialAugment`, the same for every frame).

    Args:
        crop: share of the height and width kept, resized back (1: none).
        flip: flip horizontally with probability 1/2 (not where direction is the class).
    """

    def __call__(self, sample: VideoSample, generator: torch.Generator) -> VideoSample:
        return VideoSample(self.spatial(sample.frames, generator))  # [C, T, H, W]


@dataclass
class VideoBatch(Batch):
    """``frames [B, C, T, H, W]`` zero-padded in time and ``lengths [B]`` (real frames)."""

    frames: Tensor
    lengths: Tensor

    @property
    def mask(self) -> Tensor:
        """``[B, T]`` True at real frames."""
        return lengths_to_mask(self.lengths, self.frames.shape[2]).to(self.frames.device)


def collate_video(samples: Sequence[VideoSample]) -> VideoBatch:
    if not samples or any(not isinstance(s, VideoSample) for s in samples):
        raise InputError("samples", "VideoSample objects from VideoTransform", [type(s).__name__ for s in samples])
    frames, lengths = pad_sequences([s.frames for s in samples], dim=1)
    return VideoBatch(frames, lengths)


@TOKENIZERS.register("tubelet")
class TubeletTokenizer(Tokenizer):
    """Conv3d tubelets ``t × S × S`` with learned space-time positions.

    Args:
        dim: token width D.
        in_channels: C.
        tubelet: ``(t, S)`` frames and pixels per tubelet side (2, 16).
        num_frames, image_size: the clip shape the position tables are built for.
        positions: ``"separable"`` (time table + space grid, summed) or ``"joint"`` (one table).

    Inputs: :class:`VideoBatch` ``frames [B, C, T, H, W]``, ``lengths [B]``.

    Returns: Tokens ``[B, ceil(T / t) * (H / S) * (W / S), D]``, time-major; a clip of
    ``L`` frames has ``ceil(L / t)`` real time slices (its last tubelet zero-padded).
    """

    modality = "video"

    def __init__(
        self,
        dim: int = 768,
        *,
        in_channels: int = 3,
        tubelet: tuple[int, int] = (2, 16),
        num_frames: int = 16,
        image_size: tuple[int, int] = (224, 224),
        positions: Literal["separable", "joint"] = "separable",
    ) -> None:
        super().__init__()
        if positions not in ("separable", "joint"):
            raise InputError("positions", "'separable' or 'joint'", repr(positions))
        t, s = int(tubelet[0]), int(tubelet[1])
        self.dim, self.in_channels, self.t, self.s, self.positions = dim, in_channels, t, s, positions
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=(t, s, s), stride=(t, s, s))
        self.grid_t = math.ceil(num_frames / t)
        self.grid = (image_size[0] // s, image_size[1] // s)
        n_space = self.grid[0] * self.grid[1]
        if positions == "separable":
            self.pos_embed_time = nn.Parameter(torch.randn(self.grid_t, dim) * 0.02)
            self.pos_embed = nn.Parameter(torch.randn(n_space, dim) * 0.02)
        else:
            self.pos_embed = nn.Parameter(torch.randn(self.grid_t * n_space, dim) * 0.02)

    def position_table(self, nt: int, grid: tuple[int, int]) -> Tensor:
        """``[nt * h * w, D]`` positions for ``nt`` time slices on a ``grid`` of patches."""
        n_space = grid[0] * grid[1]
        if self.positions == "separable":
            space = interpolate_positions_2d(self.pos_embed, self.grid, grid)  # [h*w, D]
            time = self.pos_embed_time[:nt] if nt <= self.grid_t else interpolate_positions(self.pos_embed_time, nt)
            return (time[:, None, :] + space[None, :, :]).reshape(nt * n_space, self.dim)
        table = self.pos_embed.view(self.grid_t, self.grid[0], self.grid[1], self.dim).permute(3, 0, 1, 2)[None]
        if nt <= self.grid_t:
            table = table[:, :, :nt]
            if grid != self.grid:
                table = F.interpolate(table, size=(nt, *grid), mode="trilinear", align_corners=False)
        else:
            table = F.interpolate(table, size=(nt, *grid), mode="trilinear", align_corners=False)
        return table[0].permute(1, 2, 3, 0).reshape(-1, self.dim)

    def forward(self, batch: VideoBatch) -> Tokens:
        if not isinstance(batch, VideoBatch):
            raise InputError("batch", "a VideoBatch (collate_video)", type(batch).__name__)
        x = batch.frames
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise InputError("batch.frames", f"[B, {self.in_channels}, T, H, W]", x)
        if x.shape[-2] % self.s or x.shape[-1] % self.s:
            raise InputError("batch.frames", f"height and width divisible by {self.s}", tuple(x.shape[-2:]))
        b, _, t, h, w = x.shape
        nt = math.ceil(t / self.t)
        frame_mask = F.pad(batch.mask, (0, nt * self.t - t))  # [B, nt*t]
        x = F.pad(x, (0, 0, 0, 0, 0, nt * self.t - t)) * frame_mask[:, None, :, None, None].to(x.dtype)
        tubes = self.proj(x)  # [B, D, nt, h/S, w/S]
        grid = (tubes.shape[-2], tubes.shape[-1])
        emb = tubes.flatten(2).transpose(1, 2) + self.position_table(nt, grid)  # [B, nt*h*w, D]
        slice_mask = torch.arange(nt, device=x.device)[None, :] * self.t < batch.lengths.to(x.device)[:, None]  # [B, nt]
        mask = slice_mask[:, :, None].expand(-1, -1, grid[0] * grid[1]).reshape(b, -1)
        return Tokens(emb, mask, self.modality)


@MODALITIES.register("video")
class VideoModality(Modality):
    """Frame folders or NPY [T, H, W, C] → 2×16×16 tubelets with space-time positions."""

    # A folder of frames or an .npy clip: `polymodal predict --modality video`.
    extensions = ()
    reads = (".npy", ".npz")
    reads_folders = True
    read = staticmethod(read_video)
    transform = VideoTransform
    collate = staticmethod(collate_video)
    default_tokenizer = "tubelet"
    augmentation = VideoAugment

    @classmethod
    def tokenizer_defaults(cls, transform: VideoTransform, tokenizer: str) -> dict[str, Any]:
        if tokenizer != "tubelet":
            return {}
        out = {"in_channels": transform.channels, "image_size": list(transform.size)}
        return out if transform.num_frames is None else {**out, "num_frames": transform.num_frames}
