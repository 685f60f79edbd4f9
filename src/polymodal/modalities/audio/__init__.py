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
from polymodal.modalities.base import MODALITIES, Modality

@MODALITIES.register("audio")
class AudioModality(Modality):
    """WAV/FLAC/OGG → Kaldi log-Mel (AST) → 16×16 patches, stride 10."""

    extensions = AUDIO_EXTENSIONS
    read = staticmethod(read_audio)
    transform = AudioTransform
    collate = staticmethod(collate_audio)
    default_tokenizer = "audio_patch"

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
