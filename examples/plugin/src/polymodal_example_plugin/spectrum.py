"""The ``spectrum`` modality: ``.spec`` files of (wavelength, intensity) pairs → band tokens.

A ``.spec`` file is the kind a handheld near-infrared (NIR) spectrometer exports: optional
``# key: value`` header lines, a ``wavelength,intensity`` header, then one pair per line,
wavelengths strictly increasing::

    # instrument: handheld NIR
    # unit: nm
    wavelength,intensity
    900.0,0.4213
    904.1,0.4198
    ...

Instruments sample different wavelength grids, so the transform resamples each spectrum
onto one fixed grid (linear interpolation), optionally differentiates it (a first
derivative removes a constant baseline offset) and applies the standard normal variate
(SNV: centre and scale each spectrum, which removes multiplicative scatter), as
chemometrics does before any model (Barnes, Dhanoa & Lister 1989).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from polymodal.errors import ConfigError, InputError
from polymodal.modalities import Batch, Modality, Tokenizer
from polymodal.tokens import Tokens

__all__ = [
    "Spectrum",
    "read_spectrum",
    "write_spectrum",
    "SpectrumTransform",
    "SpectrumBatch",
    "collate_spectra",
    "BandTokenizer",
    "SpectrumModality",
]

# Far more points than any spectrometer gives: a bound on what one file may make us hold.
MAX_POINTS = 1_000_000


@dataclass(frozen=True)
class Spectrum:
    """``wavelengths [L]`` strictly increasing and ``intensities [L]`` (float64), plus the header."""

    wavelengths: np.ndarray
    intensities: np.ndarray
    metadata: dict[str, str] = field(default_factory=dict)
    source: str = "<array>"


def read_spectrum(path: str | Path) -> Spectrum:
    """Read a ``.spec`` file; an :class:`InputError` names the file and line of any problem."""
    source = str(path)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(source, "an existing .spec file", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(source, "a readable UTF-8 text file", f"{type(exc).__name__}: {exc}") from None
    metadata: dict[str, str] = {}
    number = 0
    for number, line in enumerate(lines, start=1):
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].partition(":")
        if sep:
            metadata[key.strip()] = value.strip()
    else:
        raise InputError(source, "a 'wavelength,intensity' header line", "only comments")
    if [c.strip().lower() for c in lines[number - 1].split(",")] != ["wavelength", "intensity"]:
        raise InputError(f"{source}:{number}", "the header 'wavelength,intensity'", repr(lines[number - 1]))
    rows = [(i, line) for i, line in enumerate(lines[number:], start=number + 1) if line.strip()]
    if len(rows) < 2:
        raise InputError(source, "at least two (wavelength, intensity) rows", f"{len(rows)}")
    if len(rows) > MAX_POINTS:
        raise InputError(source, f"at most {MAX_POINTS} rows", f"{len(rows)}")
    values = np.empty((len(rows), 2), dtype=np.float64)
    for k, (i, line) in enumerate(rows):
        parts = line.split(",")
        try:
            if len(parts) != 2:
                raise ValueError
            values[k] = [float(parts[0]), float(parts[1])]
        except ValueError:
            raise InputError(f"{source}:{i}", "two numbers 'wavelength,intensity'", repr(line)) from None
        if not np.isfinite(values[k]).all():
            raise InputError(f"{source}:{i}", "finite numbers", repr(line))
    if not (np.diff(values[:, 0]) > 0).all():
        at = rows[int(np.argmin(np.diff(values[:, 0]) > 0)) + 1][0]
        raise InputError(f"{source}:{at}", "wavelengths strictly increasing", "a wavelength not above the previous one")
    return Spectrum(values[:, 0], values[:, 1], metadata, source)


def write_spectrum(path: str | Path, wavelengths: Sequence[float], intensities: Sequence[float], **metadata: str) -> Path:
    """Write a ``.spec`` file that :func:`read_spectrum` reads back exactly (``repr`` floats)."""
    path = Path(path)
    header = [f"# {key}: {value}" for key, value in metadata.items()]
    rows = [f"{float(w)!r},{float(v)!r}" for w, v in zip(wavelengths, intensities, strict=True)]
    path.write_text("\n".join([*header, "wavelength,intensity", *rows]) + "\n", encoding="utf-8")
    return path


class SpectrumTransform:
    """:class:`Spectrum` → ``[points]`` float32 on one wavelength grid. Picklable.

    Args:
        start, stop: the grid's first and last wavelength; a spectrum must cover them.
        points: grid size ``L``.
        derivative: differentiate this many times along the wavelength (0, 1 or 2).
        normalize: ``"snv"`` centres and scales each spectrum; ``"none"`` keeps values.
    """

    def __init__(
        self,
        start: float = 900.0,
        stop: float = 1700.0,
        points: int = 128,
        *,
        derivative: int = 0,
        normalize: Literal["snv", "none"] = "snv",
    ) -> None:
        if not stop > start:
            raise ConfigError("spectrum.stop", f"a wavelength above start={start}", stop)
        if points < 4:
            raise ConfigError("spectrum.points", "at least 4", points)
        if derivative not in (0, 1, 2):
            raise ConfigError("spectrum.derivative", "0, 1 or 2", derivative)
        if normalize not in ("snv", "none"):
            raise ConfigError("spectrum.normalize", "'snv' or 'none'", repr(normalize))
        self.start, self.stop, self.points = float(start), float(stop), int(points)
        self.derivative, self.normalize = derivative, normalize

    def config(self) -> dict[str, object]:
        return {
            "start": self.start,
            "stop": self.stop,
            "points": self.points,
            "derivative": self.derivative,
            "normalize": self.normalize,
        }

    @property
    def grid(self) -> np.ndarray:
        """``[points]`` wavelengths the output is sampled at."""
        return np.linspace(self.start, self.stop, self.points)

    def __call__(self, spectrum: Spectrum) -> Tensor:
        if not isinstance(spectrum, Spectrum):
            raise InputError("spectrum", "a Spectrum (read_spectrum)", type(spectrum).__name__)
        low, high = spectrum.wavelengths[0], spectrum.wavelengths[-1]
        if low > self.start or high < self.stop:
            raise InputError(spectrum.source, f"wavelengths covering {self.start:g}–{self.stop:g}", f"{low:g}–{high:g}")
        grid = self.grid
        values = np.interp(grid, spectrum.wavelengths, spectrum.intensities)
        for _ in range(self.derivative):
            values = np.gradient(values, grid)
        if self.normalize == "snv":
            values = (values - values.mean()) / (values.std() + 1e-8)
        return torch.from_numpy(values.astype(np.float32))


@dataclass
class SpectrumBatch(Batch):
    """``values [B, L]``: spectra on the transform's grid (all of one length, so no mask)."""

    values: Tensor


def collate_spectra(samples: Sequence[Tensor]) -> SpectrumBatch:
    """Stack ``[L]`` spectra into ``[B, L]``; spectra of different grids raise."""
    if not samples or any(not isinstance(s, Tensor) or s.ndim != 1 for s in samples):
        raise InputError("samples", "[L] tensors from SpectrumTransform", [type(s).__name__ for s in samples])
    lengths = sorted({s.shape[0] for s in samples})
    if len(lengths) > 1:
        raise InputError("samples", "spectra on one grid (one length)", f"lengths {lengths}")
    return SpectrumBatch(torch.stack(list(samples)))


class BandTokenizer(Tokenizer):
    """One token per band of ``band`` neighbouring grid points: ``Linear(band → D)`` + band position.

    Args:
        dim: token width D.
        points: grid size L (the transform's ``points``); a multiple of ``band``.
        band: grid points per token.

    Inputs: :class:`SpectrumBatch` ``values [B, L]``.

    Returns: Tokens ``[B, L / band, D]``, all real.
    """

    modality = "spectrum"

    def __init__(self, dim: int = 64, *, points: int = 128, band: int = 8) -> None:
        super().__init__()
        if band < 1 or points % band:
            raise ConfigError("tokenizer.band", f"a divisor of points={points}", band)
        self.dim, self.points, self.band = dim, points, band
        self.proj = nn.Linear(band, dim)
        self.pos_embed = nn.Parameter(torch.randn(1, points // band, dim) * 0.02)

    def forward(self, batch: SpectrumBatch) -> Tokens:
        if not isinstance(batch, SpectrumBatch):
            raise InputError("batch", "a SpectrumBatch (collate_spectra)", type(batch).__name__)
        values = batch.values
        if values.ndim != 2 or values.shape[1] != self.points:
            raise InputError("batch.values", f"[B, {self.points}]", tuple(values.shape))
        bands = values.reshape(values.shape[0], -1, self.band)  # [B, N, band]
        return Tokens.dense(self.proj(bands.to(self.proj.weight.dtype)) + self.pos_embed, self.modality)


class SpectrumModality(Modality):
    """Spectra in .spec files (wavelength, intensity) → resampled, SNV → one token per band."""

    extensions = (".spec",)
    read = staticmethod(read_spectrum)
    transform = SpectrumTransform
    collate = staticmethod(collate_spectra)
    default_tokenizer = "spectrum_bands"
