"""Images, any channel count: file → ``[C, H, W]`` in [0, 1] → resize/crop/normalise → patches → Tokens.

- :func:`read_image` opens anything Pillow opens: grayscale, RGB, RGBA, palette, 16- and
  32-bit integer, float, CMYK/YCbCr (converted to RGB), and multi-page files such as
  hyperspectral TIFF stacks (pages become channels);
- :class:`ImageTransform` resizes, centre-crops and normalises with per-channel
  statistics; picklable, with :meth:`ImageTransform.config` for saving;
- :func:`collate_images` stacks samples into an :class:`ImageBatch`;
- :class:`PatchTokenizer` cuts ``S × S`` patches, projects them to ``D`` (``proj``, a
  strided convolution) and adds learnable 2-D grid positions, resampled for other sizes.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageSequence, UnidentifiedImageError
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.encoder.positions import LearnedGridPositions
from polymodal.errors import ConfigError, InputError
from polymodal.modalities._augment import SpatialAugment
from polymodal.modalities import limits
from polymodal.modalities._common import require_file, to_unit_range
from polymodal.modalities.base import MODALITIES, TOKENIZERS, Batch, Modality, Tokenizer
from polymodal.tokens import Tokens

__all__ = [
    "ImageBatch",
    "ImageTransform",
    "PatchTokenizer",
    "read_image",
    "collate_images",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CLIP_MEAN",
    "CLIP_STD",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# Full-scale value of each Pillow mode that is not 8-bit, so every file lands in [0, 1].
_MODE_SCALE = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0, "I": 4294967295.0, "F": 1.0}
# Modes Pillow stores in other colour spaces or with a palette: convert for meaningful channels.
_CONVERT = {"P": "RGBA", "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "1": "L", "La": "LA", "RGBa": "RGBA"}


@dataclass
class ImageBatch(Batch):
    """A batch of images of one size.

    Attributes:
        pixels: ``[B, C, H, W]`` float, normalised.
    """

    pixels: Tensor

    def __post_init__(self) -> None:
        check_pixels(self.pixels, "ImageBatch.pixels")


def check_pixels(pixels: Any, field: str, channels: int | None = None) -> None:
    """Raise :class:`InputError` unless ``pixels`` is a float ``[B, C, H, W]`` tensor (with ``channels``)."""
    if not isinstance(pixels, Tensor) or pixels.ndim != 4:
        raise InputError(field, "a float tensor [B, C, H, W]", pixels)
    if not pixels.is_floating_point():
        raise InputError(field, "a float tensor (convert uint8 images with ImageTransform or /255)", pixels)
    if channels is not None and pixels.shape[1] != channels:
        raise InputError(field, f"{channels} channels", f"{pixels.shape[1]} channels (shape {list(pixels.shape)})")


def _frame_to_array(frame: Image.Image, source: str) -> np.ndarray:
    """One Pillow frame → ``[H, W, C]`` float32 in [0, 1].

    8-bit modes scale by 255, 16-bit by 65535; 32-bit integer and float images carry no
    full scale of their own, so their values are read by the range they fit (see
    :func:`~polymodal.modalities._common.to_unit_range`): a float TIFF holding 0..255 is
    scaled by 255, not clipped to a white page.
    """
    mode = frame.mode
    if mode in _CONVERT:
        frame = frame.convert(_CONVERT[mode])
        mode = frame.mode
    if mode in ("I", "F"):
        array = to_unit_range(np.asarray(frame), source)
    elif mode in _MODE_SCALE:
        array = (np.asarray(frame, dtype=np.float32) / np.float32(_MODE_SCALE[mode])).astype(np.float32)
    else:
        array = np.asarray(frame, dtype=np.float32) / np.float32(255.0)
    return array[..., None] if array.ndim == 2 else array


# Bytes per pixel of a decoded frame by mode (4 for anything wider), for the size checks.
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "I;16": 2}


def check_image_claim(image: Image.Image, source: str, file_bytes: int) -> int:
    """Refuse an opened (not yet decoded) image whose header claims more pixels than the
    ``image_pixels`` limit or than its file can hold; returns its page count."""
    width, height = image.size
    pages = int(getattr(image, "n_frames", 1) or 1)
    if width <= 0 or height <= 0:
        raise InputError(source, "an image with positive width and height", f"{width}×{height}")
    limits.check(source, "image_pixels", width * height * pages, f"pixels ({width}×{height}×{pages} pages)")
    decoded = width * height * pages * _MODE_BYTES.get(image.mode, 4)
    limits.check_expansion(source, decoded, file_bytes, f"{width}×{height} pixels")
    return pages


class ClampedFile:
    """A binary file whose ``read(n)`` never asks for more than the bytes left: Pillow reads
    chunks by the length their header states, and ``read(2**31)`` on a 100-byte file would
    allocate 2 GiB before finding out. No ``fileno``, so Pillow does not memory-map it."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")
        self._size = path.stat().st_size

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return self._file.read()
        return self._file.read(min(n, max(self._size - self._file.tell(), 0)))

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readline(self, size: int = -1) -> bytes:
        return self._file.readline(size)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ClampedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_image(path: str | Path) -> Tensor:
    """Read an image file into ``[C, H, W]`` float32 in [0, 1].

    Multi-page files (TIFF stacks, animated GIFs) with pages of one size stack their
    pages' channels, as hyperspectral and multi-band data are stored; pages of
    different sizes raise :class:`InputError`. The header's size is checked against the
    ``image_pixels`` limit (:mod:`polymodal.modalities.limits`) before any pixel is decoded.
    """
    source = str(path)
    p = require_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            with ClampedFile(p) as handle, Image.open(handle) as image:
                check_image_claim(image, source, p.stat().st_size)
                frames = [_frame_to_array(f, source) for f in ImageSequence.Iterator(image)]
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(source, "an image within Pillow's pixel limit", str(exc)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, KeyError, TypeError) as exc:
        # Pillow's decoders raise many types on corrupt data; each is a bad file, not a bug of ours.
        raise InputError(source, "an image file Pillow can open", f"{type(exc).__name__}: {exc}") from None
    sizes = {f.shape[:2] for f in frames}
    if len(sizes) != 1:
        raise InputError(str(path), "pages of one size", f"page sizes {sorted(sizes)}")
    array = np.concatenate(frames, axis=-1) if len(frames) > 1 else frames[0]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


class ImageTransform(Configurable):
    """Resize, centre-crop and normalise ``[C, H, W]`` images in [0, 1]. Picklable.

    Args:
        size: target of the resize: an int resizes the shorter side (``resize="shortest"``,
            CLIP) or both sides (``resize="exact"``, HF ViT); a pair ``(h, w)`` is exact.
        crop: centre-crop to this size after resizing (``None``: no crop).
        mean, std: per-channel statistics; one value is broadcast to every channel.
        resize: ``"shortest"`` or ``"exact"``.
        interpolation: ``"bilinear"`` or ``"bicubic"`` (antialiased when shrinking).

    ``transform(image [C, H, W] or uint8) -> [C, h, w]`` float32.
    """

    def __init__(
        self,
        size: int | Sequence[int] = 224,
        crop: int | Sequence[int] | None = 224,
        mean: float | Sequence[float] = IMAGENET_MEAN,
        std: float | Sequence[float] = IMAGENET_STD,
        *,
        resize: Literal["shortest", "exact"] = "shortest",
        interpolation: Literal["bilinear", "bicubic"] = "bicubic",
    ) -> None:
        if resize not in ("shortest", "exact"):
            raise ConfigError("image.resize", "'shortest' or 'exact'", repr(resize))
        if interpolation not in ("bilinear", "bicubic"):
            raise ConfigError("image.interpolation", "'bilinear' or 'bicubic'", repr(interpolation))
        self.size = size if isinstance(size, int) else tuple(int(s) for s in size)
        self.crop = crop if crop is None or isinstance(crop, int) else tuple(int(c) for c in crop)
        for name, value in (("size", self.size), ("crop", self.crop)):
            if value is None and name == "crop":
                continue
            values = (value,) if isinstance(value, int) else value
            if isinstance(value, bool) or len(values) != (1 if isinstance(value, int) else 2) or any(
                not isinstance(v, int) or v < 1 for v in values
            ):
                raise ConfigError(f"image.{name}", "a positive integer or a pair (h, w) of them" + (" or None" if name == "crop" else ""), value)
        self.mean = (float(mean),) if isinstance(mean, (int, float)) else tuple(float(m) for m in mean)
        self.std = (float(std),) if isinstance(std, (int, float)) else tuple(float(s) for s in std)
        if not np.isfinite(self.mean).all():
            raise ConfigError("image.mean", "finite per-channel means", self.mean)
        if len(self.mean) != len(self.std) or any(not (s > 0) or not np.isfinite(s) for s in self.std):
            raise ConfigError("image.std", f"{len(self.mean)} positive values (one per mean)", self.std)
        self.resize = resize
        self.interpolation = interpolation

    def _target(self, h: int, w: int) -> tuple[int, int]:
        if not isinstance(self.size, int):
            return self.size
        if self.resize == "exact":
            return self.size, self.size
        # The shorter side becomes ``size``; the longer keeps the aspect ratio (CLIP's resize).
        if h <= w:
            return self.size, max(self.size, round(w * self.size / h))
        return max(self.size, round(h * self.size / w)), self.size

    def __call__(self, image: Tensor | np.ndarray) -> Tensor:
        if isinstance(image, np.ndarray):
            image = torch.from_numpy(np.ascontiguousarray(image))
        if not isinstance(image, Tensor) or image.ndim != 3:
            raise InputError("image", "a [C, H, W] tensor", image)
        if image.dtype == torch.uint8:
            image = image.float() / 255.0
        if not image.is_floating_point():
            raise InputError("image", "a float tensor in [0, 1] or uint8", image)
        c, h, w = image.shape
        if h < 1 or w < 1 or c < 1:
            raise InputError("image", "an image with at least one channel and one pixel", f"shape {list(image.shape)}")
        if not bool(torch.isfinite(image).all()):
            raise InputError("image", "finite pixel values (no NaN or inf)", "NaN or inf values")
        low, high = float(image.min()), float(image.max())
        if low < -0.5 or high > 1.5:  # a little overshoot (an augmentation's) is fine; 0..255 or 1e38 is not
            raise InputError("image", "float pixels in [0, 1] (read_image gives them; divide 8-bit values by 255)", f"values in [{low:.3g}, {high:.3g}]")
        x = image.float()[None]
        target = self._target(h, w)
        if target != (h, w):
            x = F.interpolate(x, size=target, mode=self.interpolation, antialias=True, align_corners=False)
            if self.interpolation == "bicubic":
                x = x.clamp(0.0, 1.0)  # bicubic overshoots; keep the [0, 1] contract
        if self.crop is not None:
            ch, cw = (self.crop, self.crop) if isinstance(self.crop, int) else self.crop
            th, tw = x.shape[-2:]
            if ch > th or cw > tw:
                x = F.pad(x, (0, max(cw - tw, 0), 0, max(ch - th, 0)))
                th, tw = x.shape[-2:]
            top, left = (th - ch) // 2, (tw - cw) // 2
            x = x[..., top : top + ch, left : left + cw]
        mean, std = torch.tensor(self.mean), torch.tensor(self.std)
        if mean.numel() not in (1, c):
            raise InputError("image", f"{mean.numel()} channels (as the normalisation statistics)", f"{c} channels")
        return ((x[0] - mean[:, None, None]) / std[:, None, None]).contiguous()


def collate_images(samples: Sequence[Tensor]) -> ImageBatch:
    """Stack ``[C, H, W]`` samples of one shape into ``ImageBatch(pixels [B, C, H, W])``."""
    if len(samples) == 0:
        raise InputError("samples", "at least one image", "an empty list")
    shapes = {tuple(s.shape) for s in samples}
    if len(shapes) != 1:
        raise InputError("samples", "images of one shape (resize or crop them first)", f"shapes {sorted(shapes)}")
    return ImageBatch(torch.stack(list(samples)))


@TOKENIZERS.register("patch")
class PatchTokenizer(Tokenizer):
    """Non-overlapping ``S × S`` patches → linear projection → + 2-D grid positions → Tokens.

    Args:
        in_channels: image channels C (1 for X-ray, 3 for RGB, 200+ for hyperspectral).
        dim: token width D.
        patch_size: S; ``H`` and ``W`` must divide by it.
        image_size: the size the position grid is trained at (``image_size / S`` per side).
        positions: add learnable grid positions (``pos_embed``), bicubically resampled for
            other image sizes.
        norm: LayerNorm on the tokens after projection (``norm``).
        bias: bias on the projection (CLIP's has none).

    Inputs:
        batch: an :class:`ImageBatch` or a ``[B, C, H, W]`` float tensor.

    Returns:
        Tokens ``[B, N, D]`` with ``N = (H / S) · (W / S)``, row-major, all real.
    """

    modality = "image"

    def __init__(
        self,
        in_channels: int = 3,
        dim: int = 768,
        patch_size: int = 16,
        image_size: int | Sequence[int] = 224,
        *,
        positions: bool = True,
        norm: bool = False,
        bias: bool = True,
        layer_norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(int(s) for s in image_size)
        if size[0] % patch_size or size[1] % patch_size:
            raise ConfigError("image.image_size", f"multiples of patch_size={patch_size}", size)
        self.in_channels = in_channels
        self.dim = dim
        self.patch_size = patch_size
        self.image_size = size
        self.grid = (size[0] // patch_size, size[1] // patch_size)
        self.layer_norm_eps = layer_norm_eps
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size, bias=bias)
        self.pos_embed = LearnedGridPositions(self.grid, dim) if positions else None
        self.norm = nn.LayerNorm(dim, eps=layer_norm_eps) if norm else None

    def forward(self, batch: ImageBatch | Tensor) -> Tokens:
        pixels = batch.pixels if isinstance(batch, ImageBatch) else batch
        check_pixels(pixels, "pixels", self.in_channels)
        h, w = pixels.shape[-2:]
        s = self.patch_size
        if h % s or w % s:
            raise InputError("pixels", f"height and width divisible by patch_size={s}", f"{h}x{w}")
        x = self.proj(pixels.to(self.proj.weight.dtype))  # [B, D, H/S, W/S]
        x = x.flatten(2).transpose(1, 2)  # [B, N, D]
        if self.pos_embed is not None:
            x = x + self.pos_embed((h // s, w // s)).to(x.dtype)
        if self.norm is not None:
            x = self.norm(x)
        return Tokens.dense(x, "image")


@MODALITIES.register("image")
class ImageModality(Modality):
    """Images of any channel count (RGB, grayscale, infrared, X-ray, multi-page hyperspectral)."""

    extensions = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
    read = staticmethod(read_image)
    transform = ImageTransform
    collate = staticmethod(collate_images)
    default_tokenizer = "patch"
    augmentation = SpatialAugment  # {crop: 0.8, flip: true}
