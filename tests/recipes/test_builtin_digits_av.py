"""digits-av built small into a temporary folder: counts, disjoint splits, files, card, reuse."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from polymodal.recipes.datasets import MARKER, build, list_datasets
from polymodal.errors import ConfigError

SMALL = {"variants": 5, "test_variants": 2, "accents": ("en-us", "en"), "images": 100}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("digits-av", root=tmp_path_factory.mktemp("cache"), **SMALL)


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def test_listed() -> None:
    assert "digits-av" in list_datasets()


def test_counts_and_splits(built: Path) -> None:
    rows = _rows(built)
    images = [r for r in rows if "image" in r]
    audio = [r for r in rows if "audio" in r]
    assert len(images) == 100 and len(audio) == 5 * 2 * 10
    assert not any("image" in r and "audio" in r for r in rows)
    assert sum(r["split"] == "test" for r in images) == 30
    test_voices = {r["meta"]["variant"] for r in audio if r["split"] == "test"}
    train_voices = {r["meta"]["variant"] for r in audio if r["split"] == "train"}
    assert len(test_voices) == 2 and len(train_voices) == 3 and not test_voices & train_voices
    test_images = {r["image"] for r in images if r["split"] == "test"}
    assert not test_images & {r["image"] for r in images if r["split"] == "train"}
    assert len({r["id"] for r in rows}) == len(rows)
    classes = json.loads((built / "classes.json").read_text())
    assert classes[7] == "seven"
    for r in rows:
        assert classes[r["label"]] in r["text"]


def test_files(built: Path) -> None:
    rows = _rows(built)
    image = next(r for r in rows if "image" in r)
    with Image.open(built / image["image"]) as im:
        assert im.size == (8, 8) and im.mode == "L"
    clip = next(r for r in rows if "audio" in r)
    samples, rate = sf.read(built / clip["audio"], dtype="int16")
    assert rate == 16_000 and samples.ndim == 1 and np.abs(samples).max() > 1000
    card = (built / "README.md").read_text()
    assert "CC BY 4.0" in card and "GPL-3.0" in card and "| test |" in card


def test_reuse_and_rebuild(built: Path) -> None:
    marker = (built / MARKER).stat().st_mtime_ns
    assert build("digits-av", root=built.parent, **SMALL) == built
    assert (built / MARKER).stat().st_mtime_ns == marker  # reused, not rebuilt
    assert not [p for p in built.parent.iterdir() if p.name.startswith(".")]  # no scratch left


def test_bad_names_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="digits-av"):
        build("no-such-dataset", root=tmp_path)
    with pytest.raises(ConfigError, match="voices"):
        build("digits-av", root=tmp_path, voices=3)
    assert not list(tmp_path.iterdir())


def test_manifest_is_valid(built: Path) -> None:
    from polymodal.data.manifest import Manifest

    manifest = Manifest.load(built / "manifest.jsonl", modalities=["image", "audio", "text"])
    assert manifest.skipped == () and manifest.classes[9] == "nine"
    assert manifest.splits == {"train": 70 + 60, "test": 30 + 40}
    assert len(manifest.select(split="test", modalities=["audio"])) == 40


def test_main_job_path_image_and_audio_loaders(built: Path) -> None:
    """One loader of image rows and one of audio rows, both with captions, as the trainer uses them."""
    from toy_modalities import ScaleImage, WaveformTensor, collate_audio, collate_images, read_png, read_wav

    from polymodal.data import ManifestCollate, ManifestDataset, build_loader
    from polymodal.data.manifest import Manifest

    manifest = Manifest.load(built / "manifest.jsonl", modalities=["image", "audio", "text"])
    images = ManifestDataset(manifest, {"image": ScaleImage(), "text": None}, split="train", readers={"image": read_png})
    clips = ManifestDataset(manifest, {"audio": WaveformTensor(), "text": None}, split="test", readers={"audio": read_wav})
    assert (len(images), len(clips)) == (70, 40)
    image_batch = next(iter(build_loader(images, 16, collate=ManifestCollate(["image", "text"], {"image": collate_images}, raw=["text"]))))
    audio_batch = next(iter(build_loader(clips, 16, collate=ManifestCollate(["audio", "text"], {"audio": collate_audio}, raw=["text"]))))
    assert image_batch.inputs["image"].pixels.shape == (16, 1, 8, 8)
    assert audio_batch.inputs["audio"].waveform.shape[0] == 16 and audio_batch.inputs["audio"].mask.any(1).all()
    for batch in (image_batch, audio_batch):
        words = [manifest.classes[label] for label in batch.labels.tolist()]
        assert all(word in text for word, text in zip(words, batch.inputs["text"], strict=True))


@pytest.mark.parametrize(
    ("option", "value"),
    [("variants", 1), ("test_variants", 5), ("images", 3), ("accents", ("en-us", "fr")), ("test_size", 1.5)],
)
def test_bad_options_are_config_errors(tmp_path: Path, option: str, value: object) -> None:
    options = {**SMALL, option: value}
    with pytest.raises(ConfigError, match=option):
        build("digits-av", root=tmp_path, **options)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # the full build: ≈ 8 s, 15–20 s on a busy 2-core machine
def test_full_build_counts(tmp_path: Path) -> None:
    folder = build("digits-av", root=tmp_path)
    marker = json.loads((folder / MARKER).read_text())
    assert marker["summary"]["counts"] == {"test/audio": 1160, "test/image": 540, "train/audio": 2960, "train/image": 1257}
    assert len(marker["summary"]["held_out_variants"]) == 29 and marker["summary"]["variants"] == 103
