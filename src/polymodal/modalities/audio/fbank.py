"""Kaldi-style log-Mel filterbank in torch, by default exactly the one AST and Meta-Transformer use.

AST computes ``torchaudio.compliance.kaldi.fbank(wave, htk_compat=True, use_energy=False,
window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)``. This module
reproduces that definition without torchaudio, vectorised for speed: frames by
``unfold``, one ``rfft`` over all frames and one matmul with the mel matrix.

Per frame, in Kaldi's order: remove the DC offset, pre-emphasise (``x[i] -= 0.97 x[i-1]``,
``x[0] -= 0.97 x[0]``), window, zero-pad to a power of two, power spectrum, mel
filters (triangular in Kaldi's mel scale ``1127 ln(1 + f/700)``), ``log(max(e, eps))``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Literal

import torch
from torch import Tensor

from polymodal.errors import InputError

__all__ = ["FbankConfig", "kaldi_fbank", "kaldi_mel_matrix", "kaldi_window", "mel_scale", "LOG_FLOOR"]

WindowType = Literal["hann", "hamming", "povey"]

# torch.finfo(torch.float32).eps: the floor torchaudio's Kaldi fbank (and AST) take the log of.
LOG_FLOOR = 1.1920928955078125e-07


@dataclass(frozen=True)
class FbankConfig:
    """Filterbank options; defaults are AST's (16 kHz, 25 ms / 10 ms, 128 bins, Hann)."""

    sample_rate: int = 16000
    num_mel_bins: int = 128
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    # Kaldi calls the Hann window "hanning"; AST uses it. Kaldi's own default is "povey".
    window: WindowType = "hann"
    preemphasis: float = 0.97
    remove_dc_offset: bool = True
    # 20 Hz is Kaldi's and AST's default low cut-off; high 0 means Nyquist (negative: offset from it).
    low_freq: float = 20.0
    high_freq: float = 0.0

    def __post_init__(self) -> None:
        if self.window not in ("hann", "hamming", "povey"):
            raise InputError("window", "one of hann, hamming, povey", repr(self.window))
        if self.sample_rate <= 0 or self.num_mel_bins <= 0:
            raise InputError("sample_rate/num_mel_bins", "positive integers", (self.sample_rate, self.num_mel_bins))

    @property
    def frame_length(self) -> int:
        return int(self.sample_rate * self.frame_length_ms * 0.001)

    @property
    def frame_shift(self) -> int:
        return int(self.sample_rate * self.frame_shift_ms * 0.001)

    @property
    def n_fft(self) -> int:
        # Kaldi's round_to_power_of_two: 400 samples -> 512.
        return 1 << max(0, (self.frame_length - 1).bit_length())

    def to_dict(self) -> dict:
        return asdict(self)


def mel_scale(freq: Tensor | float) -> Tensor:
    """Kaldi's (HTK's) mel scale ``1127 ln(1 + f / 700)``."""
    return 1127.0 * torch.log1p(torch.as_tensor(freq, dtype=torch.float64) / 700.0)


@lru_cache(maxsize=16)
def kaldi_window(kind: WindowType, length: int) -> Tensor:
    """The symmetric ``[length]`` window Kaldi uses (float64, cached)."""
    n = torch.arange(length, dtype=torch.float64)
    a = 2 * math.pi / (length - 1)
    if kind == "hann":
        return 0.5 - 0.5 * torch.cos(a * n)
    if kind == "hamming":
        return 0.54 - 0.46 * torch.cos(a * n)
    if kind == "povey":
        return (0.5 - 0.5 * torch.cos(a * n)).pow(0.85)
    raise InputError("window", "one of hann, hamming, povey", repr(kind))


@lru_cache(maxsize=16)
def kaldi_mel_matrix(num_bins: int, n_fft: int, sample_rate: int, low_freq: float, high_freq: float) -> Tensor:
    """``[n_fft // 2 + 1, num_bins]`` triangular filters in mel space (Nyquist column zero, as Kaldi).

    Kaldi builds its filters over the ``n_fft / 2`` bins below Nyquist; torchaudio pads
    a zero row for the Nyquist bin, which we keep so that the rfft output multiplies directly.
    """
    nyquist = 0.5 * sample_rate
    high = high_freq if high_freq > 0 else nyquist + high_freq
    if not (0.0 <= low_freq < high <= nyquist):
        raise InputError("low_freq/high_freq", f"0 <= low < high <= {nyquist}", (low_freq, high_freq))
    half = n_fft // 2
    fft_freqs = torch.arange(half, dtype=torch.float64) * (sample_rate / n_fft)
    mel = mel_scale(fft_freqs)[:, None]  # [half, 1]
    mel_low, mel_high = float(mel_scale(low_freq)), float(mel_scale(high))
    delta = (mel_high - mel_low) / (num_bins + 1)
    idx = torch.arange(num_bins, dtype=torch.float64)[None, :]
    left = mel_low + idx * delta
    center = left + delta
    right = center + delta
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    weights = torch.clamp(torch.minimum(up, down), min=0.0)  # [half, bins]
    return torch.cat([weights, weights.new_zeros(1, num_bins)], dim=0)


def kaldi_fbank(waveform: Tensor, config: FbankConfig = FbankConfig(), *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Log-Mel filterbank of a mono waveform.

    Args:
        waveform: ``[T]`` samples (any scale; AST feeds [-1, 1] floats).
        config: :class:`FbankConfig`.
        dtype: compute precision; float32 (default) is twice as fast as float64 and agrees
            with AST's float64 reference to about 1e-4 in log energy.

    Returns:
        ``[frames, num_mel_bins]`` float32 with ``frames = 1 + (T - frame_length) // frame_shift``
        (Kaldi's ``snip_edges``); ``[0, num_mel_bins]`` for clips shorter than one frame.
    """
    if waveform.ndim != 1:
        raise InputError("waveform", "a mono [T] tensor", waveform)
    c = config
    length, shift = c.frame_length, c.frame_shift
    if waveform.shape[0] < length:
        return waveform.new_zeros(0, c.num_mel_bins, dtype=torch.float32)
    frames = waveform.to(dtype).unfold(0, length, shift)  # [F, L]
    if c.remove_dc_offset:
        frames = frames - frames.mean(dim=1, keepdim=True)
    if c.preemphasis != 0.0:
        previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
        frames = frames - c.preemphasis * previous
    # The cached window and filters are float64 on the CPU; they follow the waveform's device.
    frames = frames * kaldi_window(c.window, length).to(device=frames.device, dtype=dtype)
    spectrum = torch.fft.rfft(frames, n=c.n_fft)  # zero-padding to n_fft happens inside rfft
    power = spectrum.real.square() + spectrum.imag.square()  # [F, n_fft/2 + 1]
    mel = kaldi_mel_matrix(c.num_mel_bins, c.n_fft, c.sample_rate, c.low_freq, c.high_freq)
    energies = power @ mel.to(device=power.device, dtype=dtype)  # [F, bins]
    return torch.log(energies.clamp_min(LOG_FLOOR)).to(torch.float32)
