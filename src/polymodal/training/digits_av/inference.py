"""Files → model inputs with the preprocessing saved in a :class:`MetaTransformer` directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from polymodal.errors import InputError

__all__ = ["model_inputs"]


def _audio(model, paths: list[Path]):
    from polymodal.modalities.audio import AudioTransform, collate_audio, read_audio

    from polymodal.training.digits_av.features import torch_threads

    transform = AudioTransform(**model.preprocessing["audio"])
    with torch_threads(1):
        return collate_audio([transform(read_audio(p)) for p in paths])


def _image(model, paths: list[Path]) -> torch.Tensor:
    from polymodal.training.digits_av.features import read_digit_image

    pre = model.preprocessing["image"]
    pixels = np.stack([read_digit_image(p, tuple(pre["size"])) for p in paths])
    return (torch.from_numpy(pixels)[:, None] - pre["mean"]) / pre["std"]  # [B, 1, H, W]


_READERS = {"audio": _audio, "image": _image}


def model_inputs(model, modality: str, paths: list[Path]) -> Any:
    """A batch for ``model.encode_<modality>`` from files, as the model was trained."""
    if modality not in _READERS or modality not in model.preprocessing:
        raise InputError("modality", f"one of {', '.join(sorted(model.preprocessing))}", repr(modality))
    return _READERS[modality](model, [Path(p) for p in paths])
