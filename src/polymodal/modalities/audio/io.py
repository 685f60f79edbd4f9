"""Reading audio files (WAV, FLAC, OGG) with soundfile, with errors that name the file.

Checked before decoding: the duration against the ``audio_seconds`` limit
(:mod:`polymodal.modalities.limits`) and, for WAV, the data size the header declares
against the bytes the file holds (libsndfile quietly decodes what is there, so a WAV cut
to a third would otherwise pass as a shorter clip). After decoding: finite samples within
:data:`MAX_PEAK` of full scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from polymodal.errors import InputError
from polymodal.modalities import limits
from polymodal.modalities._common import require_file, require_finite

__all__ = ["AudioClip", "read_audio", "AUDIO_EXTENSIONS", "MAX_PEAK"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
# Float formats may exceed full scale a little (a clipped master); 1e30 is not audio.
MAX_PEAK = 64.0


@dataclass(frozen=True)
class AudioClip:
    """A decoded clip: ``samples [C, T]`` float32 in [-1, 1] and its sample rate in Hz."""

    samples: np.ndarray
    sample_rate: int
    source: str = "<array>"


def _wav_data_claim(path: Path) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of a RIFF/WAVE file's ``data`` chunk, or None when the
    file is no plain WAV or declares no size (streaming writers leave 0 or 0xFFFFFFFF)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        offset = 12
        size = path.stat().st_size
        for _ in range(64):  # a WAV has a handful of chunks before its data
            f.seek(offset)
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            declared = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                if declared in (0, 0xFFFFFFFF):
                    return None
                return declared, size - offset - 8
            offset += 8 + declared + (declared & 1)
    return None


# Container signatures of the formats read here. Anything else is refused before libsndfile
# sniffs it: its MP3 fallback would print decoder notes to stderr for random bytes.
_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"BW64", b"fLaC", b"OggS")


def read_audio(path: str | Path) -> AudioClip:
    """Decode ``path`` to an :class:`AudioClip`; unreadable, empty, truncated, too long or
    non-finite audio raises :class:`InputError` naming the file."""
    p = require_file(path)
    source = str(path)
    with open(p, "rb") as f:
        magic = f.read(4)
    if magic not in _MAGIC:
        got = "an empty file" if not magic else f"a file starting with {magic!r}"
        raise InputError(source, "a WAV, FLAC or Ogg file (RIFF, fLaC or OggS header)", got)
    try:
        info = sf.info(str(p))
        claim = _wav_data_claim(p)
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError for broken files
        raise InputError(source, "a readable WAV/FLAC/OGG file", f"unreadable ({exc})") from None
    if info.samplerate <= 0 or info.channels <= 0:
        raise InputError(source, "a positive sample rate and channel count", f"{info.samplerate} Hz, {info.channels} channels")
    limits.check(source, "audio_seconds", info.frames / info.samplerate, "a duration in seconds")
    limits.check_expansion(source, info.frames * info.channels * 4, p.stat().st_size, "audio")
    if claim is not None and claim[1] < claim[0]:
        raise InputError(
            source, f"the {claim[0]:,} bytes of audio its header declares", f"{claim[1]:,} (a truncated or half-copied file)"
        )
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)  # [T, C]
    except Exception as exc:
        raise InputError(source, "a readable WAV/FLAC/OGG file", f"unreadable ({exc})") from None
    if data.shape[0] == 0:
        raise InputError(source, "an audio file with at least one sample", "zero samples")
    require_finite(data, source)
    peak = float(np.abs(data).max())
    if peak > MAX_PEAK:
        raise InputError(source, f"samples within ±1 (full scale; up to ±{MAX_PEAK:g} tolerated)", f"a peak of {peak:.3g}")
    return AudioClip(np.ascontiguousarray(data.T), int(rate), source)
