"""A corpus of bad and odd input files, and a tiny trained run to throw them at.

Used by ``tests/test_cli_reliability.py``. Every file is generated (no binary fixtures):
what each one is and why it is bad is in its name.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

RATE = 16000


def folder_digest(folder: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every file under ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def tone(freq: float, seconds: float = 0.4, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * np.random.default_rng(seed).standard_normal(t.size)).astype(np.float32)


def _png(width: int, height: int, payload: bytes = b"\0" * 10) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(payload)) + chunk(b"IEND", b"")


def write_good(root: Path) -> dict[str, Path]:
    """Two good WAVs and two good PNGs."""
    import soundfile as sf
    from sklearn.datasets import load_digits

    root.mkdir(parents=True, exist_ok=True)
    digits = load_digits(n_class=2)
    files = {}
    for name, freq in (("low.wav", 300), ("high.wav", 1200)):
        sf.write(root / name, tone(freq), RATE)
        files[name] = root / name
    for name, index in (("zero.png", 0), ("one.png", 1)):
        Image.fromarray((digits.images[list(digits.target).index(index)] * 255 / 16).astype(np.uint8)).save(root / name)
        files[name] = root / name
    return files


def write_bad(root: Path) -> dict[str, Path]:
    """Bad or odd files, each of which must get a one-line error naming it (never a traceback)."""
    import soundfile as sf

    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        (root / name).write_bytes(data)
        files[name] = root / name

    for name, wave in {
        "silence.wav": np.zeros(RATE // 2, np.float32),
        "dc.wav": np.full(RATE // 2, 0.25, np.float32),
        "far_below_speech.wav": tone(300) * 1e-30,
        "samples_of_1e30.wav": np.full(RATE // 2, 1e30, np.float32),
    }.items():
        sf.write(root / name, wave, RATE, subtype="FLOAT")
        files[name] = root / name
    sf.write(root / "one_hertz.wav", tone(300)[:200], 1, subtype="PCM_16")
    files["one_hertz.wav"] = root / "one_hertz.wav"
    sf.write(root / "whole.wav", tone(300), RATE, subtype="PCM_16")
    whole = (root / "whole.wav").read_bytes()
    (root / "whole.wav").unlink()
    put("truncated_to_a_third.wav", whole[: len(whole) // 3])
    put("header_only.wav", whole[:44])
    put("empty.wav", b"")
    put("random_bytes.wav", np.random.default_rng(1).bytes(700))
    put("png_claiming_100000x100000.png", _png(100_000, 100_000))
    put("png_claiming_5000x5000.png", _png(5000, 5000))
    put("random_bytes.png", np.random.default_rng(2).bytes(300))
    good = Image.fromarray(np.full((8, 8), 200, np.uint8))
    good.save(root / "x.png")
    data = (root / "x.png").read_bytes()
    (root / "x.png").unlink()
    put("truncated.png", data[: len(data) // 2])
    Image.fromarray(np.full((8, 8), -3e6, np.float32), mode="F").save(root / "float_out_of_range.tif")
    files["float_out_of_range.tif"] = root / "float_out_of_range.tif"
    Image.fromarray(np.full((8, 8), np.nan, np.float32), mode="F").save(root / "float_nan.tif")
    files["float_nan.tif"] = root / "float_nan.tif"
    put("table_the_model_does_not_read.csv", b"a,b\n1,2\n")
    put("unknown_suffix.xyzzy", b"hello")
    (root / "a_folder.wav").mkdir(exist_ok=True)
    files["a_folder.wav"] = root / "a_folder.wav"
    files["missing.wav"] = root / "missing.wav"
    return files


def train_tiny_run(root: Path) -> Path:
    """A manifest_classifier run over WAV tones and digit PNGs (4 classes), trained a few steps."""
    import soundfile as sf
    from sklearn.datasets import load_digits

    from polymodal.training import Trainer, load_config

    data = root / "data"
    data.mkdir(parents=True)
    digits = load_digits(n_class=2)
    rng = np.random.RandomState(0)
    lines = []
    for k in range(24):
        i, high = rng.randint(len(digits.target)), k % 2 == 0
        Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).save(data / f"{k}.png")
        sf.write(data / f"{k}.wav", tone(1200 if high else 300, seed=k), RATE)
        label = f"{'high' if high else 'low'}-{digits.target[i]}"
        lines.append({"id": str(k), "image": f"{k}.png", "audio": f"{k}.wav", "label": label, "split": "train" if k < 16 else "val" if k < 20 else "test"})
    (data / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    config = {
        "task": "manifest_classifier",
        "output_dir": str(root / "run"),
        "data": {
            "manifest": str(data / "manifest.jsonl"),
            "transforms": {
                "image": {"size": 8, "crop": 8, "mean": 0.5, "std": 0.5},
                "audio": {"num_mel_bins": 16, "fixed_frames": 16, "mean": -4.0, "std": 4.0, "std_scale": 1.0},
            },
        },
        "model": {
            "dim": 16,
            "num_heads": 2,
            "fusion_options": {"depth": 1},
            "tokenizers": {
                "image": {"name": "patch", "options": {"in_channels": 1, "patch_size": 4, "image_size": 8}},
                "audio": {"name": "audio_conv", "options": {"num_mel_bins": 16, "channels": 4, "frames_per_token": 4, "max_tokens": 4}},
            },
        },
        "training": {"steps": 4, "batch_size": 8, "threads": 1, "eval_every": 2, "checkpoint": {"best_metric": "accuracy"}},
        "logging": {"tensorboard": False, "progress": False},
    }
    (root / "config.yaml").write_text(json.dumps(config))
    return Trainer(load_config(config)).fit().run_dir
