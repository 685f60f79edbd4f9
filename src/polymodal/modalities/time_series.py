"""Time series (and IMU): CSV/TSV, ``.npy``/``.npz`` and UEA/UCR ``.ts`` → PatchTST patches → tokens.

A series is ``[C, T]`` (channels × time), of any length; a batch pads time with a mask.
Following PatchTST (Nie et al., 2023), each channel is cut into overlapping patches of
``patch_len`` steps every ``stride`` steps, and each patch becomes one token, either per
channel with a shared projection (channel independence) or across all channels at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import InitVar, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.encoder.positions import interpolate_positions
from polymodal.errors import ConfigError, InputError
from polymodal.modalities._augment import check_share
from polymodal.modalities._common import lengths_to_mask, load_numpy, pad_sequences, require_file, read_bytes_limited, standardize
from polymodal.modalities.base import MODALITIES, TOKENIZERS, Batch, Modality, Tokenizer
from polymodal.tokens import Tokens

__all__ = [
    "TimeSeries",
    "TSFile",
    "read_time_series",
    "read_ts",
    "read_series",
    "ts_members",
    "TimeSeriesTransform",
    "SeriesSample",
    "SeriesAugment",
    "TimeSeriesBatch",
    "collate_time_series",
    "PatchTSTTokenizer",
]


@dataclass(frozen=True)
class TimeSeries:
    """``values [C, T]`` float64 (NaN where a value is missing) and the column names if any."""

    values: np.ndarray
    channels: tuple[str, ...] = ()
    source: str = "<array>"


@dataclass(frozen=True)
class TSFile:
    """A UEA/UCR ``.ts`` archive: one :class:`TimeSeries` per case and the class labels (or None)."""

    series: list[TimeSeries]
    labels: list[str] | None
    metadata: dict[str, str]


def read_time_series(path: str | Path, *, time_axis: Literal["rows", "columns"] = "rows") -> TimeSeries:
    """One series from CSV/TSV (a header row of names is detected; rows are time steps by
    default) or ``.npy``/``.npz`` (``[C, T]``, or ``[T]`` for one channel)."""
    source, suffix = str(path), Path(path).suffix.lower()
    if suffix in (".npy", ".npz"):
        raw = load_numpy(path)
        if not (np.issubdtype(raw.dtype, np.number) or raw.dtype == np.bool_) or np.iscomplexobj(raw):
            raise InputError(source, "real numbers", f"dtype {raw.dtype}")
        values = np.asarray(raw, dtype=np.float64)
        values = values[None] if values.ndim == 1 else values
        if values.ndim != 2 or values.size == 0:
            raise InputError(source, "a [C, T] or [T] array with values", values)
        return TimeSeries(values, (), source)
    if suffix in (".csv", ".tsv", ".txt"):
        delimiter = "\t" if suffix == ".tsv" else ","
        text = read_bytes_limited(path, "a series file").decode("utf-8", errors="replace")
        lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        if not lines:
            raise InputError(source, "at least one row of values", "an empty file")
        first = [v.strip() for v in lines[0][1].split(delimiter)]
        names: tuple[str, ...] = ()
        if any(_cell(v) is None for v in first):
            names, lines = tuple(first), lines[1:]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise InputError(source, "distinct column names in the header", f"{', '.join(map(repr, repeated))} more than once")
        if not lines:
            raise InputError(source, "at least one row of values", "a header and no rows")
        width = len(names) or len(lines[0][1].split(delimiter))
        table = np.empty((len(lines), width), dtype=np.float64)
        for row, (number, line) in enumerate(lines):
            cells = line.split(delimiter)
            if len(cells) != width:
                raise InputError(f"{source}:{number}", f"{width} values per row", f"{len(cells)}")
            for col, cell in enumerate(cells):
                value = _cell(cell.strip())
                if value is None:
                    # A word is no missing value: interpolating over it would invent data.
                    raise InputError(f"{source}:{number}, column {col + 1}", "a number (or empty, NA, NaN, ? for a missing value)", repr(cell.strip()[:20]))
                table[row, col] = value
        values = table.T if time_axis == "rows" else table
        return TimeSeries(values, names, source)
    raise InputError(source, "a .csv, .tsv, .npy or .npz file (use read_ts for .ts archives)", suffix or "no suffix")


_MISSING_CELLS = {"", "na", "nan", "null", "?"}


def _cell(text: str) -> float | None:
    """A CSV cell as a number; NaN for a missing-value marker; None for anything else."""
    if text.lower() in _MISSING_CELLS:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        return None


def read_ts(path: str | Path) -> TSFile:
    """Parse a UEA/UCR ``.ts`` file (the sktime/aeon text format).

    Header lines start with ``@`` (``@problemName``, ``@univariate``, ``@classLabel true a b``,
    ...) and ``@data`` begins the cases: one line per case, channels separated by ``:``,
    values by ``,``, the class label last when ``@classLabel true``; ``?`` is a missing value.
    Channels may differ in length between cases (``@equalLength false``).
    """
    source = str(path)
    lines = read_bytes_limited(path, "a .ts file").decode("utf-8", errors="replace").splitlines()
    meta: dict[str, str] = {}
    start = None
    for i, line in enumerate(lines):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.lower() == "@data":
            start = i + 1
            break
        if text.startswith("@"):
            key, _, value = text[1:].partition(" ")
            meta[key.lower()] = value.strip()
        else:
            raise InputError(source, "'@' header lines before @data", text[:40])
    if start is None:
        raise InputError(source, "a .ts file with an @data section", "no @data line")
    if meta.get("timestamps", "false").lower() == "true":
        raise InputError(source, "@timeStamps false (timestamped .ts files are not supported)", "@timeStamps true")
    declared = meta.get("classlabel", "false").split()
    has_labels = declared[:1] == ["true"]
    classes = set(declared[1:])
    series, labels = [], [] if has_labels else None
    for number, line in enumerate(lines[start:], start=start + 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split(":")
        if has_labels:
            label = parts.pop().strip()
            if classes and label not in classes:
                raise InputError(f"{source}:{number}", f"a label among @classLabel's {sorted(classes)}", repr(label))
            labels.append(label)
        if not parts:
            raise InputError(f"{source}:{number}", "values before the label (channels separated by ':')", "only a label")
        try:
            channels = [[float("nan") if v.strip() == "?" else float(v) for v in p.split(",")] for p in parts]
        except ValueError as exc:
            raise InputError(f"{source}:{number}", "comma-separated numbers per channel", f"unreadable ({exc})") from None
        t = max(len(c) for c in channels)
        values = np.full((len(channels), t), np.nan)
        for c, row in enumerate(channels):
            values[c, : len(row)] = row
        series.append(TimeSeries(values, (), f"{source}:{number}"))
    if not series:
        raise InputError(source, "at least one case after @data", "none")
    counts = {s.values.shape[0] for s in series}
    if len(counts) != 1:
        raise InputError(source, "the same number of channels in every case", sorted(counts))
    return TSFile(series, labels, meta)


ARCHIVE_SUFFIX = ".ts"


@lru_cache(maxsize=8)
def _read_ts_cached(path: str, mtime_ns: int, size: int) -> TSFile:
    # A manifest of one archive reads each case by reference: parse the file once, not per case.
    return read_ts(path)


def _archive(path: str | Path) -> TSFile:
    stat = require_file(path).stat()
    return _read_ts_cached(str(path), stat.st_mtime_ns, stat.st_size)


def ts_members(path: str | Path) -> list[tuple[str, str | None]]:
    """``("<path>#<k>", label)`` for each case of a ``.ts`` archive (labels ``None`` when it has none)."""
    archive = _archive(path)
    labels = archive.labels or [None] * len(archive.series)
    return [(f"{path}#{k}", label) for k, label in enumerate(labels)]


def read_series(path: str | Path) -> TimeSeries:
    """One series: a file :func:`read_time_series` reads, a one-case ``.ts`` file, or case
    ``k`` of a ``.ts`` archive given as ``<archive>.ts#<k>`` (what a manifest of an archive holds)."""
    text = str(path)
    base, sep, case = text.rpartition("#")
    if sep and base.lower().endswith(ARCHIVE_SUFFIX) and case.isdigit() and not Path(text).is_file():
        series = _archive(base).series
        if int(case) >= len(series):
            raise InputError(text, f"a case of {base} (0..{len(series) - 1})", int(case))
        return series[int(case)]
    if text.lower().endswith(ARCHIVE_SUFFIX):
        series = _archive(text).series
        if len(series) != 1:
            raise InputError(text, "one series (an archive of many: name a case as FILE.ts#K)", f"{len(series)} cases")
        return series[0]
    return read_time_series(path)


@dataclass
class SeriesSample:
    """One transformed series: ``values [C, T]`` float32."""

    values: Tensor


@dataclass
class TimeSeriesTransform(Configurable):
    """``TimeSeries`` (or ``[C, T]``/``[T]`` array) → :class:`SeriesSample`.

    Args:
        channels: expected channel count C (None: any); another count raises.
        normalize: ``"instance"`` standardises each channel of each series (RevIN-like,
            as PatchTST does); ``"dataset"`` uses ``mean``/``std`` (one per channel);
            ``"none"`` leaves values as they are.
        mean, std: per-channel statistics for ``"dataset"``.
        missing: ``"error"`` raises on NaN/inf; ``"interpolate"`` fills NaN linearly
            (edges take the nearest value); inf always raises.
        max_length: keep the last ``max_length`` steps of longer series.
    """

    channels: int | None = None
    normalize: Literal["instance", "dataset", "none"] = "instance"
    mean: list[float] | None = None
    std: list[float] | None = None
    missing: Literal["error", "interpolate"] = "error"
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.normalize == "dataset" and (self.mean is None or self.std is None):
            raise InputError("mean/std", "per-channel statistics for normalize='dataset'", None)
        if self.std is not None and not (np.isfinite(self.std).all() and (np.asarray(self.std, dtype=float) > 0).all()):
            raise InputError("std", "positive, finite per-channel statistics", self.std)
        if self.max_length is not None and (not isinstance(self.max_length, int) or self.max_length < 1):
            raise InputError("max_length", "a positive integer or None", self.max_length)
        if self.channels is not None and (not isinstance(self.channels, int) or self.channels < 1):
            raise InputError("channels", "a positive integer or None", self.channels)

    def __call__(self, series: TimeSeries | np.ndarray) -> SeriesSample:
        if not isinstance(series, TimeSeries):
            arr = np.asarray(series, dtype=np.float64)
            series = TimeSeries(arr[None] if arr.ndim == 1 else arr)
        values, source = np.array(series.values, dtype=np.float64), series.source
        if values.ndim != 2 or values.shape[1] == 0:
            raise InputError(source, "a series [C, T] with T > 0", values)
        if self.channels is not None and values.shape[0] != self.channels:
            raise InputError(source, f"{self.channels} channels", f"{values.shape[0]} channels")
        if np.isinf(values).any() or (self.missing == "error" and np.isnan(values).any()):
            raise InputError(source, "finite values (no NaN or inf)", "NaN or inf values")
        if np.isnan(values).any():
            values = _interpolate_nan(values, source)
        if self.max_length is not None:
            values = values[:, -self.max_length :]
        if self.normalize == "instance":
            values = standardize(values, axis=1)  # stable for 1e308 and for constant channels
        elif self.normalize == "dataset":
            mean = np.asarray(self.mean, dtype=np.float64)[:, None]
            std = np.asarray(self.std, dtype=np.float64)[:, None]
            if mean.shape[0] != values.shape[0]:
                raise InputError(source, f"{mean.shape[0]} channels (as mean/std)", f"{values.shape[0]} channels")
            values = values / std - mean / std
        out = values.astype(np.float32)
        if not np.isfinite(out).all():
            raise InputError(source, "values whose normalised form fits float32", f"values up to {np.abs(values).max():.3g}")
        return SeriesSample(torch.from_numpy(out))


@dataclass
class SeriesAugment:
    """Training-time changes of a standardised series ``[C, T]`` (Um et al., 2017; window
    slicing: Le Guennec et al., 2016).

    Args:
        jitter: std of Gaussian noise added to every value (0.03: 3 % of a standardised std).
        scaling: std of a factor around 1 drawn per channel.
        crop: share of the series in a random window, stretched back to the full length (1: none).
    """

    jitter: float = 0.0
    scaling: float = 0.0
    crop: float = 1.0
    field: InitVar[str] = "augment.time_series"

    def __post_init__(self, field: str) -> None:
        for name in ("jitter", "scaling"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{field}.{name}", "a non-negative std", getattr(self, name))
        check_share(self.crop, f"{field}.crop")

    def __call__(self, sample: SeriesSample, generator: torch.Generator) -> SeriesSample:
        x = sample.values  # [C, T]
        c, t = x.shape
        if self.crop < 1.0 and t > 2:
            n = max(2, round(t * self.crop))
            start = int(torch.randint(0, t - n + 1, (), generator=generator))
            x = F.interpolate(x[None, :, start : start + n], size=t, mode="linear", align_corners=True)[0]
        if self.scaling:
            x = x * (1.0 + self.scaling * torch.randn(c, 1, generator=generator))
        if self.jitter:
            x = x + self.jitter * torch.randn(x.shape, generator=generator)
        return SeriesSample(x.contiguous())


def _interpolate_nan(values: np.ndarray, source: str) -> np.ndarray:
    out = values.copy()
    steps = np.arange(values.shape[1])
    for c in range(values.shape[0]):
        known = ~np.isnan(values[c])
        if not known.any():
            raise InputError(source, f"at least one value in channel {c}", "only missing values")
        out[c] = np.interp(steps, steps[known], values[c, known])
    return out


@dataclass
class TimeSeriesBatch(Batch):
    """``values [B, C, T]`` zero-padded in time and ``lengths [B]``."""

    values: Tensor
    lengths: Tensor

    @property
    def mask(self) -> Tensor:
        """``[B, T]`` True at real time steps."""
        return lengths_to_mask(self.lengths, self.values.shape[2]).to(self.values.device)


def collate_time_series(samples: Sequence[SeriesSample]) -> TimeSeriesBatch:
    """Pad ``[C, T_i]`` series to ``[B, C, max T_i]``."""
    if any(not isinstance(s, SeriesSample) for s in samples):
        raise InputError("samples", "SeriesSample objects from TimeSeriesTransform", [type(s).__name__ for s in samples])
    if len({s.values.shape[0] for s in samples}) > 1:
        raise InputError("samples", "series with the same channel count", sorted({s.values.shape[0] for s in samples}))
    values, lengths = pad_sequences([s.values for s in samples], dim=1)
    return TimeSeriesBatch(values, lengths)


@TOKENIZERS.register("patch_tst")
class PatchTSTTokenizer(Tokenizer):
    """PatchTST patching: ``patch_len`` steps every ``stride`` steps → one token per patch.

    Args:
        dim: token width D.
        channels: C.
        patch_len, stride: patch size and step (PatchTST: 16 and 8).
        channel_mode: ``"independent"``: one shared projection per channel patch, tokens
            ``[B, C * N, D]`` (channel-major) with a learned channel embedding;
            ``"mixing"``: one projection of all channels' patch, tokens ``[B, N, D]``.
        max_patches: learned time positions; longer series interpolate them.

    Inputs: :class:`TimeSeriesBatch` ``values [B, C, T]``, ``lengths [B]``.

    Returns: Tokens; a series of ``L`` steps has ``N(L) = 1 + ceil(max(L - patch_len, 0) / stride)``
    real patches per channel (the last patch covers the end, zero-padded past it).
    """

    modality = "time_series"

    def __init__(
        self,
        dim: int = 768,
        *,
        channels: int = 1,
        patch_len: int = 16,
        stride: int = 8,
        channel_mode: Literal["independent", "mixing"] = "independent",
        max_patches: int = 64,
    ) -> None:
        super().__init__()
        if channel_mode not in ("independent", "mixing"):
            raise InputError("channel_mode", "'independent' or 'mixing'", repr(channel_mode))
        self.dim, self.channels, self.patch_len, self.stride, self.channel_mode = dim, channels, patch_len, stride, channel_mode
        self.proj = nn.Linear(patch_len if channel_mode == "independent" else patch_len * channels, dim)
        self.pos_embed = nn.Parameter(torch.randn(1, max_patches, dim) * 0.02)
        self.channel_embed = nn.Parameter(torch.randn(channels, dim) * 0.02) if channel_mode == "independent" else None

    def num_patches(self, length: int) -> int:
        return 1 + math.ceil(max(length - self.patch_len, 0) / self.stride)

    def forward(self, batch: TimeSeriesBatch) -> Tokens:
        if not isinstance(batch, TimeSeriesBatch):
            raise InputError("batch", "a TimeSeriesBatch (collate_time_series)", type(batch).__name__)
        x = batch.values
        if x.ndim != 3 or x.shape[1] != self.channels:
            raise InputError("batch.values", f"[B, {self.channels}, T] ({self.channels} channels)", x)
        b = x.shape[0]
        x = x * batch.mask[:, None, :].to(x.dtype)  # zero past each end
        real = torch.tensor([self.num_patches(int(n)) for n in batch.lengths.tolist()], device=x.device)
        n = int(real.max())
        need = (n - 1) * self.stride + self.patch_len
        x = F.pad(x, (0, max(need - x.shape[2], 0)))[:, :, :need]
        patches = x.unfold(2, self.patch_len, self.stride)  # [B, C, N, patch_len]
        pos = self.pos_embed[0, :n] if n <= self.pos_embed.shape[1] else interpolate_positions(self.pos_embed[0], n)
        patch_mask = torch.arange(n, device=x.device)[None, :] < real[:, None]  # [B, N]
        if self.channel_mode == "mixing":
            emb = self.proj(patches.permute(0, 2, 1, 3).reshape(b, n, -1)) + pos  # [B, N, D]
            return Tokens(emb, patch_mask, self.modality)
        emb = self.proj(patches) + pos + self.channel_embed[:, None, :]  # [B, C, N, D]
        mask = patch_mask[:, None, :].expand(-1, self.channels, -1)
        return Tokens(emb.reshape(b, -1, self.dim), mask.reshape(b, -1), self.modality)


@MODALITIES.register("time_series")
class TimeSeriesModality(Modality):
    """CSV/TSV/NPY series and UEA/UCR .ts archives (read_ts) → PatchTST patches."""

    # .csv goes to tabular and .npy/.npz to several modalities: `polymodal predict --modality time_series`.
    extensions = (".tsv", ARCHIVE_SUFFIX)
    reads = (".csv", ".txt", ".npy", ".npz")
    archive_extensions = (ARCHIVE_SUFFIX,)
    archive_members = staticmethod(ts_members)
    read = staticmethod(read_series)
    transform = TimeSeriesTransform
    collate = staticmethod(collate_time_series)
    default_tokenizer = "patch_tst"
    augmentation = SeriesAugment

    @classmethod
    def tokenizer_defaults(cls, transform: TimeSeriesTransform, tokenizer: str) -> dict[str, Any]:
        return {"channels": transform.channels} if tokenizer == "patch_tst" and transform.channels is not None else {}
