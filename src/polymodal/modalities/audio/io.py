"""Reading audio files (WAV, FLAC, OGG) with soundfile, with errors that name the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from polymodal.errors import InputError
from polymodal.modalities._common import require_file, require_finite

__all__ = ["AudioClip", "read_audio", "AUDIO_EXTENSIONS"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


@dataclass(frozen=True)
class AudioClip:
    """A decoded clip: ``samples [C, T]`` float32 in [-1, 1] and its sample rate in Hz."""

    samples: np.ndarray
    sample_rate: int
    source: str = "<array>"


def read_audio(path: str | Path) -> AudioClip:
    """Decode ``path`` to an :class:`AudioClip`; unreadable, empty or non-finite audio raises."""
    p = require_file(path)
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)  # [T, C]
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError for broken files
        raise InputError(str(path), "a readable WAV/FLAC/OGG file", f"unreadable ({exc})") from None
    if data.shape[0] == 0:
        raise InputError(str(path), "an audio file with at least one sample", "zero samples")
    require_finite(data, str(path))
    return AudioClip(np.ascontiguousarray(data.T), int(rate), str(path))
