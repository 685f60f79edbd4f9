"""Collating transformed clips of different durations into one padded batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from polymodal.errors import InputError
from polymodal.modalities._common import lengths_to_mask, pad_sequences
from polymodal.modalities.audio.transform import AudioSample
from polymodal.modalities.base import Batch

__all__ = ["AudioBatch", "collate_audio"]


@dataclass
class AudioBatch(Batch):
    """Log-Mel features of several clips.

    Attributes:
        features: ``[B, T, F]`` frames × mel bins, zero after each clip's end.
        lengths: ``[B]`` real frame counts.
    """

    features: Tensor
    lengths: Tensor

    @property
    def mask(self) -> Tensor:
        """``[B, T]`` True at real frames."""
        return lengths_to_mask(self.lengths, self.features.shape[1]).to(self.features.device)


def collate_audio(samples: Sequence[AudioSample]) -> AudioBatch:
    """Pad ``[T_i, F]`` features to ``[B, max T_i, F]``."""
    if any(not isinstance(s, AudioSample) for s in samples):
        raise InputError("samples", "AudioSample objects from AudioTransform", [type(s).__name__ for s in samples])
    features, lengths = pad_sequences([s.features for s in samples], dim=0)
    return AudioBatch(features, lengths)
