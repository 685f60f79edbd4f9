"""The ucr and tabular builders: counts, splits, files, schema, cards, valid manifests."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from polymodal.recipes.datasets import build, list_datasets
from polymodal.modalities.ts_format import read_ts
from polymodal.data.manifest import Manifest
from polymodal.errors import ConfigError, InputError

UCR_COUNTS = {  # the archive's published train/test sizes
    "GunPoint": (50, 150, 2, 1),
    "BasicMotions": (40, 40, 4, 6),
    "JapaneseVowels": (270, 370, 9, 12),
    "ArrowHead": (36, 175, 3, 1),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_listed() -> None:
    assert {"digits-av", "ucr", "tabular"} <= set(list_datasets())


@pytest.mark.parametrize("name", sorted(UCR_COUNTS))
def test_ucr(cache: Path, name: str) -> None:
    root = build("ucr", root=cache)
    train, test, n_classes, channels = UCR_COUNTS[name]
    manifest = Manifest.load(root / name / "manifest.jsonl", modalities=["time_series"])
    assert manifest.splits == {"train": train, "test": test}
    assert len(manifest.classes) == n_classes
    sample = manifest.select(split="test")[0]
    series = np.load(sample.inputs["time_series"])
    assert series.dtype == np.float32 and series.ndim == 2 and series.shape[0] == channels
    source = read_ts(root / name / "source" / f"{name}_TEST.ts")
    np.testing.assert_array_equal(series, source.series[0])
    assert manifest.classes[sample.label] == source.labels[0]
    assert "UCR" in (root / "README.md").read_text() and "| JapaneseVowels | 270 | 370 |" in (root / "README.md").read_text()


def test_ucr_option_checked(cache: Path) -> None:
    with pytest.raises(ConfigError, match="GunPoint"):
        build("ucr", root=cache / "other", datasets=("NoSuchProblem",))


def test_ts_reader_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ts"
    bad.write_text("@problemName x\n@classLabel true a b\n@data\n1,2,3:a\n1,x,3:b\n")
    with pytest.raises(InputError, match="line 5"):
        read_ts(bad)
    bad.write_text("@problemName x\n@classLabel true a b\n@data\n1,2,?:c\n")
    with pytest.raises(InputError, match="declared classes"):
        read_ts(bad)
    ok = tmp_path / "ok.ts"
    ok.write_text("# comment\n@problemName x\n@classLabel true a b\n@data\n1,2,?:3,4,5:b\n")
    parsed = read_ts(ok)
    assert parsed.series[0].shape == (2, 3) and np.isnan(parsed.series[0][0, 2]) and parsed.labels == ["b"]


@pytest.mark.parametrize(("name", "rows", "features", "classes"), [("breast_cancer", 569, 30, 2), ("wine", 178, 13, 3)])
def test_tabular(cache: Path, name: str, rows: int, features: int, classes: int) -> None:
    root = build("tabular", root=cache)
    folder = root / name
    schema = json.loads((folder / "schema.json").read_text())
    assert len(schema["numeric"]) == features and schema["categorical"] == [] and schema["target"] == "target"
    with open(folder / "data.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == rows and set(table[0]) == {*schema["numeric"], "target", "split"}
    manifest = Manifest.load(folder / "manifest.jsonl", modalities=["tabular"])
    assert len(manifest.classes) == classes and sum(manifest.splits.values()) == rows
    assert manifest.splits["test"] == pytest.approx(0.3 * rows, abs=1)
    sample = manifest[5]
    with open(sample.inputs["tabular"], newline="") as f:
        (one,) = list(csv.DictReader(f))
    assert all(float(one[c]) == float(table[5][c]) for c in schema["numeric"])
    assert manifest.classes[sample.label] == table[5]["target"] and sample.split == table[5]["split"]
    assert "CC BY 4.0" in (root / "README.md").read_text()
