"""Manifest parsing: fields, path resolution, classes, splits, and every error with its line number."""

import json
import logging
import os
from pathlib import Path

import pytest

from polymodal.data.manifest import Manifest, ManifestSample, read_classes
from polymodal.errors import InputError

FIELDS = ["image", "audio", "text"]  # accepted without registering modalities in this process


def write(folder: Path, lines: list, name: str = "manifest.jsonl") -> Path:
    path = folder / name
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "img").mkdir()
    for i in range(3):
        (tmp_path / "img" / f"{i}.png").write_bytes(b"x")
    return tmp_path


def load(path: Path, **kwargs) -> Manifest:
    return Manifest.load(path, modalities=FIELDS, **kwargs)


def test_parses_samples_and_resolves_paths(folder: Path) -> None:
    absolute = str(folder / "img" / "2.png")
    path = write(folder, [
        {"id": "s1", "image": "img/0.png", "text": "a handwritten seven", "label": 7, "split": "train"},
        "",
        {"id": 2, "image": absolute, "label": 3, "split": "test", "meta": {"writer": 4}},
    ])  # fmt: skip
    manifest = load(path)
    assert len(manifest) == 2 and manifest.skipped == ()
    first, second = manifest
    assert isinstance(first, ManifestSample)
    assert first.inputs == {"image": str(folder.resolve() / "img" / "0.png"), "text": "a handwritten seven"}
    assert (first.id, first.label, first.split, first.line) == ("s1", 7, "train", 1)
    assert (second.id, second.inputs["image"], second.meta, second.line) == ("2", absolute, {"writer": 4}, 3)
    assert manifest.classes is None
    assert manifest.splits == {"train": 1, "test": 1}
    assert manifest.modalities == ["image", "text"]


def test_split_filter_and_modality_selection(folder: Path) -> None:
    path = write(folder, [
        {"id": "a", "image": "img/0.png", "split": "train"},
        {"id": "b", "text": "seven", "split": "train"},
        {"id": "c", "image": "img/1.png", "split": "test"},
    ])  # fmt: skip
    assert [s.id for s in load(path, split="train")] == ["a", "b"]
    assert [s.id for s in load(path, split=["train", "test"])] == ["a", "b", "c"]
    assert [s.id for s in load(path).select(split="train", modalities=["image"])] == ["a"]


def test_classes_from_sidecar_given_or_found(folder: Path) -> None:
    lines = [{"id": "a", "text": "x", "label": "cat"}, {"id": "b", "text": "y", "label": 1}]
    path = write(folder, lines)
    (folder / "classes.json").write_text(json.dumps(["dog", "cat"]))
    manifest = load(path)
    assert manifest.classes == ("dog", "cat") and [s.label for s in manifest] == [1, 1]
    given = load(path, classes=["cat", "dog", "bird"])
    assert [s.label for s in given] == [0, 1]
    (folder / "classes.json").unlink()
    found = load(write(folder, [{"id": "a", "text": "x", "label": "cat"}, {"id": "b", "text": "y", "label": "ant"}]))
    assert found.classes == ("ant", "cat") and [s.label for s in found] == [1, 0]
    (folder / "classes.json").write_text(json.dumps({"classes": ["x", "y"]}))
    assert read_classes(folder / "classes.json") == ["x", "y"]


# Each bad line sits on line 2, after a good one, so that the line number is tested.
BAD_LINES = {
    "malformed json": ('{"id": "b", "text": ', r"line 2, field '\(json\)'.*malformed JSON"),
    "not an object": ("[1, 2]", r"line 2, field '\(json\)'.*JSON object"),
    "unknown field": ({"id": "b", "imgae": "img/1.png"}, r"line 2, field 'imgae'.*unknown field"),
    "missing id": ({"text": "x"}, r"line 2, field 'id'"),
    "duplicate id": ({"id": "a", "text": "x"}, r"line 2, field 'id'.*also on line 1"),
    "missing file": ({"id": "b", "image": "img/9.png"}, r"line 2, field 'image'.*missing file .*img/9.png"),
    "path not a string": ({"id": "b", "image": 3}, r"line 2, field 'image'.*file path"),
    "label outside classes": ({"id": "b", "text": "x", "label": 5}, r"line 2, field 'label'.*0\.\.2"),
    "unknown class name": ({"id": "b", "text": "x", "label": "cow"}, r"line 2, field 'label'.*cow"),
    "bad label type": ({"id": "b", "text": "x", "label": 1.5}, r"line 2, field 'label'"),
    "bad split": ({"id": "b", "text": "x", "split": 3}, r"line 2, field 'split'"),
    "bad meta": ({"id": "b", "text": "x", "meta": [1]}, r"line 2, field 'meta'"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_errors_name_the_manifest_line_and_field(folder: Path, case: str) -> None:
    line, pattern = BAD_LINES[case]
    path = write(folder, [{"id": "a", "image": "img/0.png", "label": 0}, line])
    with pytest.raises(InputError, match=pattern) as info:
        load(path, classes=["a", "b", "c"])
    assert str(path) in str(info.value)


def test_unreadable_file(folder: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    (folder / "img" / "1.png").chmod(0)
    path = write(folder, [{"id": "a", "image": "img/1.png"}])
    with pytest.raises(InputError, match=r"line 1, field 'image'.*unreadable"):
        load(path)


def test_skip_counts_and_logs(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(folder, [
        {"id": "a", "image": "img/0.png", "label": 0},
        {"id": "b", "image": "img/9.png", "label": 1},
        "not json",
        {"id": "c", "image": "img/1.png", "label": 7},
        {"id": "d", "image": "img/2.png", "label": 1},
    ])  # fmt: skip
    with caplog.at_level(logging.WARNING):
        manifest = load(path, classes=["zero", "one"], on_error="skip")
    assert [s.id for s in manifest] == ["a", "d"]
    assert len(manifest.skipped) == 3
    assert ["line 2" in str(e) for e in manifest.skipped] == [True, False, False]
    assert "line 4, field 'label'" in str(manifest.skipped[2])
    assert "skipped 3 bad line(s)" in caplog.text


def test_unregistered_modality_is_unknown_by_default(folder: Path) -> None:
    path = write(folder, [{"id": "a", "no_such_modality": "img/0.png"}])
    with pytest.raises(InputError, match="unknown field 'no_such_modality'"):
        Manifest.load(path)
    assert len(Manifest.load(path, modalities=["no_such_modality"])) == 1


def test_missing_manifest_and_bad_option(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing.jsonl"):
        Manifest.load(tmp_path / "nothing.jsonl")
    with pytest.raises(InputError, match="on_error"):
        Manifest.load(tmp_path / "nothing.jsonl", on_error="ignore")  # type: ignore[arg-type]


def test_check_files_off(folder: Path) -> None:
    manifest = load(write(folder, [{"id": "a", "image": "img/9.png"}]), check_files=False)
    assert manifest[0].inputs["image"].endswith("img/9.png")
