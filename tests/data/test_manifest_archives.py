"""A manifest line pointing at a `.ts` archive stands for every series in it."""

import json

import numpy as np
import pytest

from polymodal.data.dataset import ManifestDataset
from polymodal.data.manifest import Manifest
from polymodal.errors import InputError
from polymodal.modalities.time_series import TimeSeriesTransform, read_series

TS = "@problemName toy\n@timeStamps false\n@univariate true\n@classLabel true up down\n@data\n1,2,3:up\n3,2,1:down\n1,2,4:up\n"


def write(tmp_path, *lines):
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return tmp_path / "m.jsonl"


def test_one_line_many_samples_with_the_archives_labels(tmp_path):
    (tmp_path / "toy.ts").write_text(TS)
    manifest = Manifest.load(write(tmp_path, {"id": "a", "time_series": "toy.ts", "split": "train", "meta": {"source": "toy"}}))
    assert [s.id for s in manifest] == ["a#0", "a#1", "a#2"] and manifest.classes == ("down", "up")
    assert [s.label for s in manifest] == [1, 0, 1] and all(s.split == "train" and s.meta == {"source": "toy"} for s in manifest)
    assert manifest[1].inputs["time_series"] == f"{tmp_path / 'toy.ts'}#1"
    np.testing.assert_array_equal(read_series(manifest[1].inputs["time_series"]).values, [[3, 2, 1]])
    data = ManifestDataset(manifest, {"time_series": TimeSeriesTransform(normalize="none")})
    assert data[2]["time_series"].values.tolist() == [[1.0, 2.0, 4.0]] and data[2]["label"] == 1
    with pytest.raises(InputError, match="a case of"):
        read_series(f"{tmp_path / 'toy.ts'}#7")
    with pytest.raises(InputError, match="one series"):
        read_series(tmp_path / "toy.ts")  # three cases: name one


def test_archive_lines_are_checked(tmp_path):
    (tmp_path / "toy.ts").write_text(TS)
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(InputError, match="field 'label'.*labels its samples"):
        Manifest.load(write(tmp_path, {"id": "a", "time_series": "toy.ts", "label": "up"}))
    with pytest.raises(InputError, match="the line's only field"):
        Manifest.load(write(tmp_path, {"id": "a", "time_series": "toy.ts", "image": "a.png"}))
    with pytest.raises(InputError, match="'a#1', also on line 1"):
        Manifest.load(write(tmp_path, {"id": "a", "time_series": "toy.ts"}, {"id": "a#1", "image": "a.png"}))
