"""Multi-channel images (infrared, X-ray, multi- and hyperspectral): cubes → patch or spectral tokens.

Readers take ``.npy``/``.npz`` arrays and multi-page TIFF stacks (one page per band) in
``[C, H, W]`` or ``[H, W, C]`` layout. Two tokenizers:

- ``mc_patch``: ``S × S`` patches over all C channels at once (1, 3 or 200+), like ViT's
  patch embedding. It is a local minimal version of the image modality's ``PatchTokenizer``
  (``modalities/image.py``, same arguments and output); once that lands, ``patch`` with
  ``in_channels=C`` on ``batch.pixels`` gives the same token layout.
- ``spectral_patch``: hyperspectral cubes split into groups of ``g`` adjacent bands, each
  group × spatial patch one token (a Conv3d ``g × S × S``), with a learned spectral-group
  embedding beside the spatial positions, so a 200-band cube keeps spectral detail
  instead of squeezing every band into one projection.
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
from polymodal.encoder.positions import LearnedGridPositions, interpolate_positions
from polymodal.errors import InputError
from polymodal.modalities._augment import SpatialAugment
from polymodal.modalities._common import load_numpy, require_file, standardize
from polymodal.modalities.base import MODALITIES, TOKENIZERS, Batch, Modality, Tokenizer
from polymodal.tokens import Tokens

__all__ = [
    "read_multichannel",
    "MultichannelTransform",
    "MultichannelBatch",
    "collate_multichannel",
    "MultichannelPatchTokenizer",
    "SpectralPatchTokenizer",
]


def read_multichannel(path: str | Path) -> np.ndarray:
    """The raw cube of ``.npy``/``.npz`` (array ``cube`` or the first) or a multi-page TIFF (``[pages, H, W]``).

    The layout is settled by :class:`MultichannelTransform` (``[C, H, W]`` or ``[H, W, C]``).
    """
    source, suffix = str(path), Path(path).suffix.lower()
    if suffix in (".npy", ".npz"):
        cube = load_numpy(path)
    elif suffix in (".tif", ".tiff"):
        from PIL import Image, ImageSequence

        from polymodal.modalities.image import ClampedFile, check_image_claim

        require_file(path)
        try:
            with ClampedFile(Path(path)) as handle, Image.open(handle) as im:
                check_image_claim(im, source, Path(path).stat().st_size)
                pages = [np.asarray(page, dtype=np.float32) for page in ImageSequence.Iterator(im)]
        except InputError:
            raise
        except Exception as exc:
            raise InputError(source, "a readable (multi-page) TIFF", f"unreadable ({type(exc).__name__}: {exc})") from None
        if len({p.shape for p in pages}) != 1:
            raise InputError(source, "TIFF pages of one size", sorted({p.shape for p in pages}))
        # A single RGB page is [H, W, 3]; a stack of grey pages becomes [pages, H, W].
        cube = pages[0] if len(pages) == 1 else np.stack(pages)
    else:
        raise InputError(source, "a .npy, .npz, .tif or .tiff file", suffix or "no suffix")
    if cube.ndim == 2:
        cube = cube[None]
    if cube.ndim != 3 or cube.size == 0:
        raise InputError(source, "a cube [C, H, W] or [H, W, C] (or a 2-D image)", cube)
    return cube


@dataclass
class MultichannelTransform(Configurable):
    """Cube → normalised ``[C, H, W]`` float32 tensor.

    Args:
        channels: expected C; another count raises (None: any). With ``layout="auto"``
            it also decides which axis holds the channels.
        layout: ``"chw"``, ``"hwc"`` or ``"auto"`` (the axis equal to ``channels``; otherwise
            ``hwc`` when the last axis has at most 4 entries and the first more, else ``chw``).
        size: resize to ``(H, W)`` (bilinear) or keep (None).
        normalize: ``"instance"`` standardises each band of each cube; ``"dataset"`` uses
            ``mean``/``std`` (per band); ``"none"`` keeps values.
    """

    channels: int | None = None
    layout: Literal["auto", "chw", "hwc"] = "auto"
    size: tuple[int, int] | None = None
    normalize: Literal["instance", "dataset", "none"] = "instance"
    mean: list[float] | None = None
    std: list[float] | None = None

    def __post_init__(self) -> None:
        if self.size is not None and (
            len(tuple(self.size)) != 2 or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in self.size)
        ):
            raise InputError("size", "a pair (H, W) of positive integers or None", self.size)
        if self.channels is not None and (not isinstance(self.channels, int) or self.channels < 1):
            raise InputError("channels", "a positive integer or None", self.channels)
        if self.std is not None and not (np.isfinite(self.std).all() and (np.asarray(self.std, dtype=float) > 0).all()):
            raise InputError("std", "positive, finite per-band statistics", self.std)

    def to_chw(self, cube: np.ndarray) -> np.ndarray:
        layout = self.layout
        if layout == "auto":
            if self.channels is not None and cube.shape[0] != self.channels and cube.shape[-1] == self.channels:
                layout = "hwc"
            elif self.channels is None and cube.shape[-1] <= 4 < cube.shape[0]:
                layout = "hwc"
            else:
                layout = "chw"
        return np.moveaxis(cube, -1, 0) if layout == "hwc" else cube

    def __call__(self, cube: np.ndarray) -> Tensor:
        cube = np.asarray(cube)
        if cube.ndim == 2:
            cube = cube[None]
        if cube.ndim != 3:
            raise InputError("cube", "[C, H, W] or [H, W, C]", cube)
        if not (np.issubdtype(cube.dtype, np.number) or cube.dtype == np.bool_) or np.iscomplexobj(cube):
            raise InputError("cube", "real numbers", f"dtype {cube.dtype}")
        if min(cube.shape) == 0:
            raise InputError("cube", "a cube with every size > 0", cube)
        # float64 throughout: values near float32's maximum must not overflow a resize or a mean.
        x = np.ascontiguousarray(self.to_chw(cube), dtype=np.float64)
        if self.channels is not None and x.shape[0] != self.channels:
            raise InputError("cube", f"{self.channels} channels", f"{x.shape[0]} channels (shape {list(cube.shape)})")
        if not np.isfinite(x).all():
            raise InputError("cube", "finite values (no NaN or inf)", "NaN or inf values")
        if self.size is not None and tuple(x.shape[-2:]) != tuple(self.size):
            x = F.interpolate(torch.from_numpy(x)[None], size=tuple(self.size), mode="bilinear", align_corners=False)[0].numpy()
        if self.normalize == "instance":
            x = standardize(x, axis=(1, 2))  # a constant band (or a 1 × 1 cube) becomes zeros, not 0/0
        elif self.normalize == "dataset":
            if self.mean is None or self.std is None or len(self.mean) != x.shape[0]:
                raise InputError("mean/std", f"{x.shape[0]} per-band statistics for normalize='dataset'", self.mean)
            x = (x - np.asarray(self.mean)[:, None, None]) / np.asarray(self.std)[:, None, None]
        out = x.astype(np.float32)
        if not np.isfinite(out).all():
            raise InputError("cube", "values whose normalised form fits float32", f"values up to {np.abs(x).max():.3g} after normalisation")
        return torch.from_numpy(out)


@dataclass
class MultichannelBatch(Batch):
    """``pixels [B, C, H, W]`` (the same field as the image modality's ``ImageBatch``)."""

    pixels: Tensor


def collate_multichannel(samples: Sequence[Tensor]) -> MultichannelBatch:
    if not samples:
        raise InputError("samples", "at least one cube", "an empty list")
    shapes = {tuple(s.shape) for s in samples}
    if len(shapes) != 1:
        raise InputError("samples", "cubes of one shape (set size= in the transform)", sorted(shapes))
    return MultichannelBatch(torch.stack(list(samples)))


def _pixels(batch: Any, channels: int) -> Tensor:
    pixels = getattr(batch, "pixels", batch)
    if not isinstance(pixels, Tensor) or pixels.ndim != 4 or not pixels.is_floating_point():
        raise InputError("batch.pixels", "a float tensor [B, C, H, W]", pixels)
    if pixels.shape[1] != channels:
        raise InputError("batch.pixels", f"{channels} channels", f"{pixels.shape[1]} channels")
    return pixels


@TOKENIZERS.register("mc_patch")
class MultichannelPatchTokenizer(Tokenizer):
    """``S × S`` patches over all channels → D, + learned 2-D grid positions.

    Args: ``in_channels`` C, ``dim`` D, ``patch_size`` S, ``image_size`` of the position grid.

    Inputs: :class:`MultichannelBatch` / ``ImageBatch`` (``.pixels [B, C, H, W]``) or a tensor.

    Returns: Tokens ``[B, (H / S) (W / S), D]``, row-major, all real.
    """

    modality = "multichannel"

    def __init__(self, in_channels: int = 3, dim: int = 768, patch_size: int = 16, image_size: int | Sequence[int] = 224) -> None:
        super().__init__()
        size = (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))
        self.in_channels, self.dim, self.patch_size = in_channels, dim, patch_size
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.pos_embed = LearnedGridPositions((size[0] // patch_size, size[1] // patch_size), dim)

    def forward(self, batch: Any) -> Tokens:
        x = _pixels(batch, self.in_channels)
        s = self.patch_size
        if x.shape[-2] % s or x.shape[-1] % s:
            raise InputError("batch.pixels", f"height and width divisible by {s}", tuple(x.shape[-2:]))
        emb = self.proj(x).flatten(2).transpose(1, 2)  # [B, N, D]
        return Tokens.dense(emb + self.pos_embed((x.shape[-2] // s, x.shape[-1] // s)), self.modality)


@TOKENIZERS.register("spectral_patch")
class SpectralPatchTokenizer(Tokenizer):
    """Groups of ``band_group`` bands × ``S × S`` patches → one token each.

    Args:
        in_channels: bands C; the last group is zero-padded when C does not divide.
        dim: token width D.
        band_group: bands per spectral token g.
        patch_size: S.
        image_size: size of the spatial position grid.

    Inputs: ``.pixels [B, C, H, W]`` (or a tensor).

    Returns: Tokens ``[B, ceil(C / g) * (H / S) * (W / S), D]``, group-major, all real.
    """

    modality = "multichannel"

    def __init__(
        self, in_channels: int = 200, dim: int = 768, *, band_group: int = 10, patch_size: int = 16, image_size: int | Sequence[int] = 224
    ) -> None:
        super().__init__()
        size = (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))
        self.in_channels, self.dim, self.band_group, self.patch_size = in_channels, dim, band_group, patch_size
        self.groups = math.ceil(in_channels / band_group)
        self.proj = nn.Conv3d(1, dim, kernel_size=(band_group, patch_size, patch_size), stride=(band_group, patch_size, patch_size))
        self.pos_embed = LearnedGridPositions((size[0] // patch_size, size[1] // patch_size), dim)
        self.band_embed = nn.Parameter(torch.randn(self.groups, dim) * 0.02)

    def forward(self, batch: Any) -> Tokens:
        x = _pixels(batch, self.in_channels)
        s = self.patch_size
        if x.shape[-2] % s or x.shape[-1] % s:
            raise InputError("batch.pixels", f"height and width divisible by {s}", tuple(x.shape[-2:]))
        pad = self.groups * self.band_group - self.in_channels
        x = F.pad(x, (0, 0, 0, 0, 0, pad))[:, None]  # [B, 1, g*G, H, W]
        tokens = self.proj(x)  # [B, D, G, h, w]
        b, d, g, h, w = tokens.shape
        emb = tokens.flatten(2).transpose(1, 2).view(b, g, h * w, d)
        bands = self.band_embed if g == self.groups else interpolate_positions(self.band_embed, g)
        emb = emb + self.pos_embed((h, w))[:, None] + bands[None, :, None, :]
        return Tokens.dense(emb.reshape(b, g * h * w, d), self.modality)


@MODALITIES.register("multichannel")
class MultichannelModality(Modality):
    """Infrared / X-ray / hyperspectral cubes (NPY, NPZ, multi-page TIFF) → patches or band-group tokens."""

    # .npy/.tif are shared with other modalities: `polymodal predict --modality multichannel`.
    extensions = ()
    reads = (".npy", ".npz", ".tif", ".tiff")
    read = staticmethod(read_multichannel)
    transform = MultichannelTransform
    augmentation = SpatialAugment  # crops and flips of the cube, every band alike
    collate = staticmethod(collate_multichannel)
    default_tokenizer = "mc_patch"
