"""Files → model inputs with the preprocessing saved in a :class:`MetaTransformer` directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from polymodal.errors import InputError

__all__ = ["model_inputs"]


# Frames this many dB above the clip's noise floor count as speech when the floor is audible.
NOISE_MARGIN_DB = 10.0


def noise_aware_trim_db(clip, options: dict[str, Any]) -> float | None:
    """The silence-trim threshold for one clip: the trained one, lowered for audible noise.

    The model was trained on synthetic clips whose pauses are digital silence, where trimming
    everything 40 dB below the loudest frame finds the word exactly. In a recording the pauses
    hold noise, often less than 40 dB down, and the word would then keep its noisy margins
    (measured: a new voice with noise at -64 dBFS went from 5/5 right to 1/5). So the threshold
    is capped at ``peak - noise floor - 10 dB``, the floor being the 10th-percentile frame level.
    On clean clips this leaves the trained threshold unchanged.
    """
    from polymodal.modalities.audio import AudioTransform

    threshold = options.get("trim_silence")
    if threshold is None:
        return None
    raw = AudioTransform(**{**options, "trim_silence": None, "cmvn": "none", "fixed_frames": None, "mean": None, "std": None})
    feats = raw(clip).features.double()  # [F, bins]
    level = (10.0 / np.log(10.0)) * torch.logsumexp(feats, dim=1)  # frame level in dB
    headroom = float(level.max() - torch.quantile(level, 0.1))
    return float(min(threshold, max(headroom - NOISE_MARGIN_DB, 6.0)))


def _audio(model, paths: list[Path]):
    from polymodal.modalities.audio import AudioTransform, collate_audio, read_audio

    from polymodal.recipes.digits_av.features import torch_threads

    options = dict(model.preprocessing["audio"])
    samples = []
    with torch_threads(1):
        for path in paths:
            clip = read_audio(path)
            transform = AudioTransform(**{**options, "trim_silence": noise_aware_trim_db(clip, options)})
            samples.append(transform(clip))
    return collate_audio(samples)


def _image(model, paths: list[Path]) -> torch.Tensor:
    from polymodal.recipes.digits_av.features import read_digit_image

    pre = model.preprocessing["image"]
    pixels = np.stack([read_digit_image(p, tuple(pre["size"])) for p in paths])
    return (torch.from_numpy(pixels)[:, None] - pre["mean"]) / pre["std"]  # [B, 1, H, W]


_READERS = {"audio": _audio, "image": _image}


def model_inputs(model, modality: str, paths: list[Path]) -> Any:
    """A batch for ``model.encode_<modality>`` from files, as the model was trained."""
    if modality not in _READERS or modality not in model.preprocessing:
        raise InputError("modality", f"one of {', '.join(sorted(model.preprocessing))}", repr(modality))
    return _READERS[modality](model, [Path(p) for p in paths])
