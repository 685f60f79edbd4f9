"""Stand-in image and audio modalities for the data tests, ``toy_image`` and ``toy_audio``.

The real modality modules land on other branches; these follow the same contract
(reader, picklable transform with ``config()``, padding collate) on real PNG and WAV files,
under their own names so that they never clash with the real ones. ``tests/data/conftest.py``
registers them around each data test only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from PIL import Image
from torch import Tensor

from polymodal.modalities.base import MODALITIES, Batch, Modality


def read_png(path: str | Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def read_wav(path: str | Path) -> np.ndarray:
    samples, _ = sf.read(path, dtype="float32")
    return samples


class ScaleImage:
    def __init__(self, scale: float = 1 / 255) -> None:
        self.scale = scale

    def __call__(self, raw: np.ndarray) -> Tensor:
        return torch.from_numpy(raw.astype(np.float32) * self.scale)[None]  # [1, H, W]

    def config(self) -> dict:
        return {"scale": self.scale}


class WaveformTensor:
    def __call__(self, raw: np.ndarray) -> Tensor:
        return torch.from_numpy(raw)

    def config(self) -> dict:
        return {}


@dataclass
class ToyImageBatch(Batch):
    pixels: Tensor  # [B, 1, H, W]


@dataclass
class ToyAudioBatch(Batch):
    waveform: Tensor  # [B, T], zero-padded
    mask: Tensor  # [B, T], True = real sample


def collate_images(samples: Sequence[Tensor]) -> ToyImageBatch:
    return ToyImageBatch(torch.stack(list(samples)))


def collate_audio(samples: Sequence[Tensor]) -> ToyAudioBatch:
    longest = max(s.shape[0] for s in samples)
    wave = torch.zeros(len(samples), longest)
    mask = torch.zeros(len(samples), longest, dtype=torch.bool)
    for i, s in enumerate(samples):
        wave[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = True
    return ToyAudioBatch(wave, mask)


class ToyImage(Modality):
    """8-bit grey PNGs scaled to [0, 1]."""

    extensions = (".png",)
    read = staticmethod(read_png)
    transform = ScaleImage
    collate = staticmethod(collate_images)
    default_tokenizer = "none"


class ToyAudio(Modality):
    """WAV waveforms, zero-padded."""

    extensions = (".wav",)
    read = staticmethod(read_wav)
    transform = WaveformTensor
    collate = staticmethod(collate_audio)
    default_tokenizer = "none"


TOYS = {"toy_image": ToyImage, "toy_audio": ToyAudio}


@contextmanager
def registered() -> Iterator[None]:
    """The toy modalities in MODALITIES for the duration only: contract tests that run over every
    registered modality elsewhere must never see them."""
    for name, modality in TOYS.items():
        MODALITIES.register(name)(modality)
    try:
        yield
    finally:
        for name in TOYS:
            MODALITIES.unregister(name)


def write_files(folder: Path, count: int = 6) -> Path:
    """PNG + WAV files and a manifest of ``count`` paired samples (plus one text-only row)."""
    import json

    (folder / "img").mkdir(parents=True, exist_ok=True)
    (folder / "wav").mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(folder / "img" / f"{i}.png")
        sf.write(folder / "wav" / f"{i}.wav", rng.uniform(-0.5, 0.5, 100 + 10 * i).astype(np.float32), 16000)
        lines.append({
            "id": f"s{i}", "toy_image": f"img/{i}.png", "toy_audio": f"wav/{i}.wav",
            "text": f"sample {i}", "label": i % 3, "split": "train" if i < count - 2 else "test",
        })  # fmt: skip
    lines.append({"id": "t", "text": "text only", "label": 0, "split": "train"})
    (folder / "classes.json").write_text(json.dumps(["a", "b", "c"]))
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path
