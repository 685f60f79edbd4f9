import json
import os
import pickle

import pytest
import torch
from torch import nn

import polymodal
from polymodal._files import atomic_write
from polymodal.checkpoints.io import load_state_dict
from polymodal.models.base import MODELS, PretrainedModel
from polymodal.errors import CheckpointError


@MODELS.register("test_tiny")
class TinyModel(PretrainedModel):
    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        self.dim = dim
        self.linear = nn.Linear(dim, 2)
        self.register_buffer("scale", torch.ones(2))

    def config(self) -> dict:
        return {"dim": self.dim}

    @classmethod
    def from_config(cls, config, directory=None):
        return cls(**config)

    def save_assets(self, directory) -> None:
        (directory / "asset.txt").write_text("hello")


def test_save_and_load_round_trip(tmp_path):
    model = TinyModel(dim=3)
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["asset.txt", "config.json", "model.safetensors"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "test_tiny" and config["dim"] == 3
    loaded = polymodal.load(tmp_path)
    assert isinstance(loaded, TinyModel) and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert "test_tiny" in MODELS


def test_no_temporary_files_are_left(tmp_path):
    TinyModel().save_pretrained(tmp_path)
    TinyModel().save_pretrained(tmp_path)  # overwrite in place
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def broken(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_strict_loading_reports_missing_and_unexpected(tmp_path):
    TinyModel().save_pretrained(tmp_path)
    state = load_state_dict(tmp_path / "model.safetensors")
    state["extra.weight"] = torch.zeros(1)
    del state["linear.bias"]
    torch.save(state, tmp_path / "other.bin")
    with pytest.raises(CheckpointError, match=r"1 missing: linear.bias; 1 unexpected: extra.weight"):
        TinyModel().load_weights(tmp_path / "other.bin")
    report = TinyModel().load_weights(tmp_path / "other.bin", strict=False)
    assert report.missing == ["linear.bias"] and report.unexpected == ["extra.weight"]


def test_shape_mismatch_is_reported(tmp_path):
    TinyModel(dim=3).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="shape mismatch: linear.weight"):
        TinyModel(dim=5).load_weights(tmp_path / "model.safetensors")


def test_bin_files_load_with_weights_only(tmp_path):
    model = TinyModel()
    torch.save({"state_dict": model.state_dict()}, tmp_path / "ckpt.pth")
    state = load_state_dict(tmp_path / "ckpt.pth")
    assert set(state) == set(model.state_dict())


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.bin"
    with open(path, "wb") as f:
        pickle.dump({"w": Evil()}, f, protocol=2)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_state_dict(path)


def test_non_tensor_entries_are_refused(tmp_path):
    path = tmp_path / "mixed.pt"
    torch.save({"w": torch.zeros(2), "step": 3}, path)
    with pytest.raises(CheckpointError, match="non-tensor entries 'step'"):
        load_state_dict(path)


def test_corrupt_safetensors_and_unknown_model_type(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_state_dict(tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "nope"}))
    with pytest.raises(CheckpointError, match="model_type"):
        polymodal.load(tmp_path)
    with pytest.raises(CheckpointError, match="no such file"):
        polymodal.load(tmp_path / "missing")
