"""digits-av built small into a temporary folder: counts, disjoint splits, files, card, reuse."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from polymodal.data.builtin import MARKER, build, list_datasets
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
