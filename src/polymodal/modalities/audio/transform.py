"""Waveform → normalised log-Mel features: the audio modality's transform.

Non-learnable, so it runs in data-loader workers: mono mix, soxr resampling, Kaldi
filterbank (:mod:`.fbank`), then the optional steps the digits-av demo needs (silence
trimming, per-utterance CMVN, a fixed frame count) and the dataset normalisation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from polymodal.configurable import Configurable
from polymodal._optional import require
from polymodal.errors import InputError, NoSignal
from polymodal.modalities._common import require_finite
from polymodal.modalities.audio.fbank import FbankConfig, WindowType, kaldi_fbank
from polymodal.modalities.audio.io import AudioClip

__all__ = ["AudioTransform", "AudioSample", "trim_silence", "resample_frames", "feature_stats", "AST_MEAN", "AST_STD"]

# AudioSet statistics of AST's filterbank (AST's and Meta-Transformer's defaults).
AST_MEAN = -4.2677393
AST_STD = 4.5689974


@dataclass
class AudioSample:
    """One transformed clip: ``features [frames, mel_bins]`` float32."""

    features: Tensor


def trim_silence(features: Tensor, threshold_db: float) -> Tensor:
    """Drop leading and trailing frames quieter than the loudest frame by ``threshold_db``.

    Frame loudness is the total mel energy in dB; the log-Mel input gives it by logsumexp.
    ``features [F, bins] -> [F', bins]``; an all-quiet clip keeps its loudest frame.
    """
    if features.shape[0] == 0:
        return features
    level_db = (10.0 / np.log(10.0)) * torch.logsumexp(features.double(), dim=1)  # [F]
    loud = torch.nonzero(level_db >= level_db.max() - threshold_db).flatten()
    return features[int(loud[0]) : int(loud[-1]) + 1]


def resample_frames(features: Tensor, frames: int) -> Tensor:
    """Linearly resample ``[F, bins]`` along time to ``[frames, bins]`` (a word to a fixed length)."""
    if features.shape[0] == frames:
        return features
    out = F.interpolate(features.T[None], size=frames, mode="linear", align_corners=True)
    return out[0].T.contiguous()


def feature_stats(features: Iterable[Tensor], per_bin: bool = False) -> tuple[list[float], list[float]]:
    """Mean and std over every frame of ``features`` (each ``[F, bins]``): global or per bin.

    Use the training split's transformed features (with ``mean=0, std=1`` set) and pass
    the result back as ``AudioTransform(mean=..., std=..., std_scale=1)``.
    """
    stacked = torch.cat([f.double() for f in features], dim=0)
    if per_bin:
        return stacked.mean(0).tolist(), stacked.std(0).clamp_min(1e-8).tolist()
    return [float(stacked.mean())], [float(stacked.std().clamp_min(1e-8))]


@dataclass
class AudioTransform(Configurable):
    """``AudioClip`` (or ``[T]``/``[C, T]`` array at ``sample_rate``) → :class:`AudioSample`.

    Args:
        sample_rate: target rate; clips at other rates are resampled with soxr (anti-aliased).
        num_mel_bins, window, frame_length_ms, frame_shift_ms, low_freq, high_freq,
            preemphasis: filterbank options (:class:`FbankConfig`; defaults are AST's).
        trim_silence: if set, trim leading/trailing frames this many dB below the clip's peak.
        cmvn: ``"utterance"`` subtracts each clip's mean log-Mel spectrum (per bin).
        fixed_frames: if set, resample the (trimmed) clip to this many frames.
        mean, std: normalisation statistics, scalars or one per mel bin (AST's AudioSet
            defaults); ``None`` disables normalisation.
        std_scale: features become ``(x - mean) / (std_scale * std)``; AST uses 2.
        max_frames: if set, longer clips are cut to this many frames.
        target_frames: AST's ``target_length``: cut or zero-pad the raw log-Mel to exactly
            this many frames before normalisation (AST: 1024), so every clip has one length.
        silence_db: a clip whose RMS level (its DC offset removed) is below this many dBFS
            raises :class:`~polymodal.errors.NoSignal` instead of being classified: digital
            silence, a constant, 1e-30 amplitude. The default, -70 dBFS, is far below a quiet
            speaker on a laptop microphone (about -45 dBFS); ``None`` disables the check.
        min_sample_rate: clips recorded below this rate (Hz) raise :class:`InputError`: a
            "1 Hz" file upsampled to 16 kHz holds nothing a model was trained on.
    """

    sample_rate: int = 16000
    num_mel_bins: int = 128
    window: WindowType = "hann"
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    low_freq: float = 20.0
    high_freq: float = 0.0
    preemphasis: float = 0.97
    trim_silence: float | None = None
    cmvn: Literal["none", "utterance"] = "none"
    fixed_frames: int | None = None
    mean: float | list[float] | None = AST_MEAN
    std: float | list[float] | None = AST_STD
    std_scale: float = 2.0
    max_frames: int | None = None
    target_frames: int | None = None
    silence_db: float | None = -70.0
    min_sample_rate: int = 4000
    _fbank: FbankConfig = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.cmvn not in ("none", "utterance"):
            raise InputError("cmvn", "'none' or 'utterance'", repr(self.cmvn))
        if self.fixed_frames is not None and self.fixed_frames < 1:
            raise InputError("fixed_frames", "a positive frame count or None", self.fixed_frames)
        if (self.mean is None) != (self.std is None):
            raise InputError("mean/std", "both set or both None", (self.mean, self.std))
        for name in ("sample_rate", "num_mel_bins"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InputError(name, "a positive integer", getattr(self, name))
        for name in ("frame_length_ms", "frame_shift_ms", "std_scale"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) <= 0:
                raise InputError(name, "a positive number", getattr(self, name))
        for name in ("max_frames", "target_frames"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(name, "a positive frame count or None", getattr(self, name))
        if self.std is not None and not (np.isfinite(self.std).all() and (np.asarray(self.std) > 0).all()):
            raise InputError("std", "positive, finite normalisation statistics", self.std)
        if self.mean is not None and not np.isfinite(self.mean).all():
            raise InputError("mean", "finite normalisation statistics", self.mean)
        self._fbank = FbankConfig(
            sample_rate=self.sample_rate,
            num_mel_bins=self.num_mel_bins,
            frame_length_ms=self.frame_length_ms,
            frame_shift_ms=self.frame_shift_ms,
            window=self.window,
            preemphasis=self.preemphasis,
            low_freq=self.low_freq,
            high_freq=self.high_freq,
        )

    def waveform(self, clip: AudioClip | np.ndarray) -> np.ndarray:
        """Mono float64 ``[T]`` at ``sample_rate``."""
        if not isinstance(clip, AudioClip):
            clip = AudioClip(np.atleast_2d(np.asarray(clip, dtype=np.float32)), self.sample_rate)
        source, samples = clip.source, clip.samples
        if samples.ndim != 2 or samples.shape[1] == 0:
            raise InputError(source, "audio samples [C, T] with T > 0", samples)
        require_finite(samples, source)
        if clip.sample_rate < self.min_sample_rate:
            raise InputError(source, f"a sample rate of at least {self.min_sample_rate} Hz (AudioTransform.min_sample_rate)", f"{clip.sample_rate} Hz")
        mono = samples.astype(np.float64).mean(axis=0)
        self._check_signal(mono, source)
        if clip.sample_rate != self.sample_rate:
            soxr = require("soxr", "audio")  # only clips at another rate need it
            mono = soxr.resample(mono, clip.sample_rate, self.sample_rate, quality="HQ")
        return mono

    def _check_signal(self, mono: np.ndarray, source: str) -> None:
        """Raise :class:`NoSignal` when the clip, its DC offset removed, is below ``silence_db``."""
        if self.silence_db is None:
            return
        peak = float(np.abs(mono).max())
        ac = mono - mono.mean()
        rms = float(np.sqrt(np.mean(ac * ac)))
        if rms > 0 and 20 * np.log10(rms) >= self.silence_db:
            return
        if peak == 0:
            got = "digital silence (every sample is 0)"
        elif rms == 0 or rms < 1e-6 * peak:
            got = f"a constant (a DC offset of {mono.mean():.3g} and nothing else)"
        else:
            got = f"a level of {20 * np.log10(rms):.0f} dBFS"
        raise NoSignal(source, f"a clip with a signal above {self.silence_db:g} dBFS (AudioTransform.silence_db)", got)

    def __call__(self, clip: AudioClip | np.ndarray) -> AudioSample:
        source = clip.source if isinstance(clip, AudioClip) else "waveform"
        wave = torch.from_numpy(self.waveform(clip))
        feats = kaldi_fbank(wave, self._fbank)  # [F, bins]
        if feats.shape[0] == 0:
            minimum = self._fbank.frame_length / self.sample_rate
            raise InputError(source, f"a clip of at least one frame ({minimum * 1000:.0f} ms)", f"{wave.shape[0]} samples")
        if self.trim_silence is not None:
            feats = trim_silence(feats, self.trim_silence)
        if self.cmvn == "utterance":
            feats = feats - feats.mean(dim=0, keepdim=True)
        if self.fixed_frames is not None:
            feats = resample_frames(feats, self.fixed_frames)
        if self.max_frames is not None:
            feats = feats[: self.max_frames]
        if self.target_frames is not None:
            # AST pads with zeros in log-Mel units, before normalisation.
            feats = F.pad(feats, (0, 0, 0, max(self.target_frames - feats.shape[0], 0)))[: self.target_frames]
        if self.mean is not None:
            mean = torch.as_tensor(self.mean, dtype=torch.float32)
            std = torch.as_tensor(self.std, dtype=torch.float32)
            feats = (feats - mean) / (self.std_scale * std)
        require_finite(feats, f"{source}: log-Mel features")
        return AudioSample(feats.contiguous())
