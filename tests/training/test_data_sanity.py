"""Training data sanity and early data checks of ``manifest_classifier`` (issue 14 family 7,
issue 13: a missing eval split fails before anything is written)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from polymodal.errors import ConfigError, InputError
from polymodal.training import Trainer, load_config
from polymodal.training.sanity import check_labels


def _manifest(root: Path, rows: list[tuple[str, str]], classes: list[str] | None = None) -> Path:
    """PNG files of sklearn digits, one per ``(label, split)`` row."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    (root / "img").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (label, split) in enumerate(rows):
        Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).save(root / "img" / f"{i}.png")
        lines.append({"id": str(i), "image": f"img/{i}.png", "label": label, "split": split})
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    if classes is not None:
        (root / "classes.json").write_text(json.dumps(classes))
    return root / "manifest.jsonl"


def _config(manifest: Path, run: Path, **data) -> dict:
    return {
        "task": "manifest_classifier",
        "output_dir": str(run),
        "data": {"manifest": str(manifest), "transforms": {"image": {"size": 8, "crop": 8, "mean": 0.5, "std": 0.5}}, **data},
        "model": {
            "dim": 16, "num_heads": 2, "fusion_options": {"depth": 1},
            "tokenizers": {"image": {"name": "patch", "options": {"in_channels": 1, "patch_size": 4, "image_size": 8}}},
        },
        "training": {"steps": 3, "batch_size": 4, "threads": 1, "eval_every": 3},
        "logging": {"tensorboard": False, "progress": False},
    }


def _fit(config: dict):
    return Trainer(load_config(config)).fit()


def test_an_eval_split_the_manifest_lacks_fails_before_anything_is_written(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "d", [("a", "train"), ("b", "train"), ("a", "test")])
    with pytest.raises(ConfigError, match=r"^data.val_split: expected samples of split 'val'.*splits: {'train': 2, 'test': 1}"):
        _fit(_config(manifest, tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_choosing_the_best_checkpoint_on_test_is_refused(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "d", [("a", "train"), ("b", "train"), ("a", "test")])
    config = _config(manifest, tmp_path / "run", val_split="test", eval_split="holdout")
    config["training"]["checkpoint"] = {"best_metric": "accuracy"}
    with pytest.raises(ConfigError, match=r"^data.val_split: expected a validation split .*never test"):
        _fit(config)
    assert not (tmp_path / "run").exists()


def test_a_training_set_of_one_class_is_refused(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "d", [("a", "train"), ("a", "train"), ("b", "val")], classes=["a", "b"])
    with pytest.raises(ConfigError, match=r"training samples \(split 'train'\) of at least two classes, got only class 'a' \(2 samples\)"):
        _fit(_config(manifest, tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_a_class_only_in_evaluation_is_a_warning_in_the_log_and_the_run(tmp_path: Path, capsys) -> None:
    manifest = _manifest(tmp_path / "d", [("a", "train"), ("b", "train"), ("a", "val"), ("c", "val"), ("c", "val")])
    run = _fit(_config(manifest, tmp_path / "run")).run_dir
    err = capsys.readouterr().err
    assert "warning: data.manifest: class 'c' (2) appears in split 'val' but never in 'train'" in err
    figures = json.loads((run / "metrics.json").read_text())
    assert any("'c' (2)" in w for w in figures["warnings"])
    assert "class 'c'" in (run / "report.md").read_text()


def test_a_label_outside_the_declared_classes_is_refused(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "d", [("a", "train"), ("b", "train"), ("zebra", "val")], classes=["a", "b"])
    with pytest.raises(InputError, match=r"line 3, field 'label': expected one of the classes \[a, b\], got 'zebra'"):
        _fit(_config(manifest, tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_declared_classes_without_samples_are_named() -> None:
    warnings = check_labels([0, 1, 1], [0, 1], ["a", "b", "c"], train_split="train", eval_split="val")
    assert warnings == ["data.manifest: declared class 'c' has no sample in 'train' or 'val'"]
