import argparse
import json

import pytest
import torch

import polymodal
from polymodal.convert import CONVERTERS, add_parser, from_huggingface
from polymodal.errors import CheckpointError

transformers = pytest.importorskip("transformers")


def test_cli_convert_then_load(tmp_path, capsys):
    hf = transformers.ViTModel(
        transformers.ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=16, patch_size=8)
    ).eval()
    hf.save_pretrained(tmp_path / "hf")
    parser = argparse.ArgumentParser(prog="polymodal")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["convert", str(tmp_path / "hf"), str(tmp_path / "out")])
    assert args.func(args) == 0
    assert "vision_encoder" in capsys.readouterr().out
    model = polymodal.load(tmp_path / "out")
    pixels = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_image(pixels), hf(pixel_values=pixels).last_hidden_state[:, 0], atol=1e-5, rtol=0)


def test_sources_and_unknown_source(tmp_path):
    assert {"bert", "vit", "clip", "audio-spectrogram-transformer"} <= set(CONVERTERS.names())
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(CheckpointError, match="one of audio-spectrogram-transformer, bert, clip, vit"):
        from_huggingface(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    with pytest.raises(CheckpointError, match="model.safetensors"):
        from_huggingface(tmp_path)


def test_loading_a_hugging_face_folder_suggests_converting(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    with pytest.raises(CheckpointError, match="from_huggingface"):
        polymodal.load(tmp_path)
