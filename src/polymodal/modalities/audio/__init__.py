"""Audio: WAV/FLAC/OGG → mono, resampled → Kaldi log-Mel filterbank → patch or conv tokens."""

from polymodal.modalities.audio.batch import AudioBatch, collate_audio
from polymodal.modalities.audio.fbank import FbankConfig, kaldi_fbank, kaldi_mel_matrix, kaldi_window
from polymodal.modalities.audio.io import AUDIO_EXTENSIONS, AudioClip, read_audio
from polymodal.modalities.audio.tokenizers import AudioConvTokenizer, AudioPatchTokenizer
from polymodal.modalities.audio.transform import (
    AST_MEAN,
    AST_STD,
    AudioSample,
    AudioTransform,
    feature_stats,
    resample_frames,
    trim_silence,
)
from polymodal.modalities.base import MODALITIES, ModalitySpec

MODALITIES.add(
    "audio",
    ModalitySpec(
        name="audio",
        extensions=AUDIO_EXTENSIONS,
        read=read_audio,
        transform=AudioTransform,
        collate=collate_audio,
        default_tokenizer="audio_patch",
        description="WAV/FLAC/OGG → Kaldi log-Mel (AST) → 16×16 patches, stride 10",
    ),
)

__all__ = [
    "AST_MEAN",
    "AST_STD",
    "AUDIO_EXTENSIONS",
    "AudioBatch",
    "AudioClip",
    "AudioConvTokenizer",
    "AudioPatchTokenizer",
    "AudioSample",
    "AudioTransform",
    "FbankConfig",
    "collate_audio",
    "feature_stats",
    "kaldi_fbank",
    "kaldi_mel_matrix",
    "kaldi_window",
    "read_audio",
    "resample_frames",
    "trim_silence",
]
