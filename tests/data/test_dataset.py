"""ManifestDataset and ManifestCollate on real PNG and WAV files, through stand-in modality specs."""

import pickle
from pathlib import Path

import pytest
import torch
from toy_modalities import ScaleImage, ToyAudioBatch, ToyImageBatch, WaveformTensor, write_files

from polymodal.data.collate import ManifestBatch, ManifestCollate
from polymodal.data.dataset import ManifestDataset
from polymodal.errors import ConfigError, InputError


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return write_files(tmp_path)


def test_items_are_read_and_transformed(manifest: Path) -> None:
    dataset = ManifestDataset(manifest, {"toy_image": ScaleImage(), "toy_audio": WaveformTensor(), "text": None})
    assert len(dataset) == 6 and dataset.dropped == 1  # the text-only row lacks the files
    item = dataset[1]
    assert item["id"] == "s1" and item["index"] == 1 and item["label"] == 1
    assert item["toy_image"].shape == (1, 8, 8) and 0 <= item["toy_image"].min() <= item["toy_image"].max() <= 1
    assert item["toy_audio"].shape == (110,)
    assert item["text"] == "sample 1"
    assert dataset.classes == ("a", "b", "c") and dataset.labels == [0, 1, 2, 0, 1, 2]


def test_split_and_missing_modality_rows(manifest: Path) -> None:
    assert len(ManifestDataset(manifest, {"toy_image": None}, split="test")) == 2
    texts = ManifestDataset(manifest, {"text": None}, split="train")
    assert [texts[i]["text"] for i in range(len(texts))][-1] == "text only"


def test_collate_pads_and_stacks(manifest: Path) -> None:
    modalities = {"toy_image": ScaleImage(), "toy_audio": WaveformTensor(), "text": None}
    dataset = ManifestDataset(manifest, modalities)
    batch = ManifestCollate(modalities)([dataset[i] for i in (0, 3, 5)])
    assert isinstance(batch, ManifestBatch) and len(batch) == 3
    assert isinstance(batch.inputs["toy_image"], ToyImageBatch) and batch.inputs["toy_image"].pixels.shape == (3, 1, 8, 8)
    audio = batch.inputs["toy_audio"]
    assert isinstance(audio, ToyAudioBatch) and audio.waveform.shape == (3, 150)
    assert audio.mask.sum(1).tolist() == [100, 130, 150]
    assert batch.inputs["text"] == ["sample 0", "sample 3", "sample 5"]
    assert batch.labels.tolist() == [0, 0, 2] and batch.labels.dtype == torch.long
    assert batch.ids == ["s0", "s3", "s5"] and batch.indices.tolist() == [0, 3, 5]
    moved = batch.to("cpu")
    assert moved.inputs["toy_audio"].waveform.shape == (3, 150)


def test_dataset_and_collate_pickle(manifest: Path) -> None:
    modalities = {"toy_image": ScaleImage(0.5), "text": None}
    dataset = pickle.loads(pickle.dumps(ManifestDataset(manifest, modalities)))
    collate = pickle.loads(pickle.dumps(ManifestCollate(modalities)))
    assert collate([dataset[0]]).inputs["toy_image"].pixels.max() <= 127.5


def test_undecodable_file_names_manifest_line_and_field(manifest: Path) -> None:
    (manifest.parent / "img" / "2.png").write_bytes(b"not a png")
    dataset = ManifestDataset(manifest, {"toy_image": None})
    with pytest.raises(InputError, match=r"manifest.jsonl, line 3, field 'toy_image'.*UnidentifiedImageError"):
        dataset[2]


def test_unregistered_modality_lists_valid_ones(manifest: Path) -> None:
    with pytest.raises(ConfigError, match="modalities.nope.*toy_audio"):
        ManifestDataset(manifest, {"nope": None})
    with pytest.raises(ConfigError, match="modalities"):
        ManifestDataset(manifest, {})


def test_reader_override_stands_in_for_an_unregistered_modality(tmp_path: Path) -> None:
    import json

    import numpy as np

    from polymodal.data.manifest import Manifest

    np.save(tmp_path / "a.npy", np.ones((2, 5), dtype=np.float32))
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "a", "series": "a.npy", "label": 1}) + "\n")
    manifest = Manifest.load(tmp_path / "m.jsonl", modalities=["series"])
    dataset = ManifestDataset(manifest, {"series": torch.from_numpy}, readers={"series": np.load})
    batch = ManifestCollate(["series"], collates={"series": torch.stack})([dataset[0]])
    assert batch.inputs["series"].shape == (1, 2, 5) and batch.labels.tolist() == [1]


def test_untransformed_modalities_collate_as_lists(manifest: Path) -> None:
    transforms = {"toy_image": None, "toy_audio": WaveformTensor()}
    dataset = ManifestDataset(manifest, transforms)
    batch = ManifestCollate.for_transforms(transforms)([dataset[0], dataset[1]])
    assert isinstance(batch.inputs["toy_image"], list) and batch.inputs["toy_image"][0].shape == (8, 8)
    assert isinstance(batch.inputs["toy_audio"], ToyAudioBatch)


def test_require_any_keeps_partial_samples_and_collate_records_who_holds_what(manifest: Path) -> None:
    modalities = {"toy_image": ScaleImage(), "text": None}
    complete = ManifestDataset(manifest, modalities)
    partial = ManifestDataset(manifest, modalities, require="any")
    assert len(partial) == len(complete) + 1 and partial.dropped == 0  # the text-only row stays
    last = partial[len(partial) - 1]
    assert last["toy_image"] is None and last["text"] == "text only"
    batch = ManifestCollate(modalities)([partial[i] for i in (0, len(partial) - 1, 1)])
    assert batch.present["toy_image"].tolist() == [True, False, True]
    assert batch.inputs["toy_image"].pixels.shape[0] == 2 and "text" not in batch.present  # every sample has text
    only_text = ManifestCollate(modalities)([last])
    assert "toy_image" not in only_text.inputs and only_text.inputs["text"] == ["text only"]
    with pytest.raises(InputError, match="require"):
        ManifestDataset(manifest, modalities, require="some")
