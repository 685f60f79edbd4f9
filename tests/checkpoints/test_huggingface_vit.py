"""Parity of the ViT converter with transformers.ViTModel, from safetensors and from a torch.save .bin."""

import pytest
import torch

import polymodal
from polymodal.convert import from_huggingface
from polymodal.errors import CheckpointError

transformers = pytest.importorskip("transformers")


def random_vit(**overrides):
    config = transformers.ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32, patch_size=8,
        **overrides,
    )
    return transformers.ViTModel(config).eval()


def assert_vit_parity(model, hf, pixels, atol=1e-5):
    with torch.no_grad():
        ours = model(pixels, output_hidden_states=True)
        ref = hf(pixel_values=pixels, output_hidden_states=True)
    assert len(ours.hidden_states) == len(ref.hidden_states) == hf.config.num_hidden_layers + 1
    for a, b in zip(ours.hidden_states, ref.hidden_states):
        assert (a - b).abs().max() <= atol
    assert (ours.hidden - ref.last_hidden_state).abs().max() <= atol
    assert (ours.extras["pooler_output"] - ref.pooler_output).abs().max() <= atol
    assert (model.encode_image(pixels) - ref.last_hidden_state[:, 0]).abs().max() <= atol


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_vit_parity_from_disk(tmp_path, fmt):
    hf = random_vit()
    if fmt == "safetensors":
        hf.save_pretrained(tmp_path)
    else:
        hf.config.save_pretrained(tmp_path)
        torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")  # transformers 5's in-memory key names
    model = from_huggingface(tmp_path)
    assert_vit_parity(model, hf, torch.randn(2, 3, 32, 32))
    model.save_pretrained(tmp_path / "ours")
    assert_vit_parity(polymodal.load(tmp_path / "ours"), hf, torch.randn(1, 3, 32, 32))


def test_vit_without_qkv_bias_and_other_channels(tmp_path):
    hf = random_vit(qkv_bias=False, num_channels=1, hidden_act="gelu_new")
    hf.save_pretrained(tmp_path)
    assert_vit_parity(from_huggingface(tmp_path), hf, torch.randn(2, 1, 32, 32))


def test_preprocessing_travels_with_the_weights(tmp_path):
    hf = random_vit()
    hf.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(
        '{"do_resize": true, "size": {"height": 32, "width": 32}, "image_mean": [0.1, 0.2, 0.3],'
        ' "image_std": [0.5, 0.5, 0.5], "resample": 2}'
    )
    model = from_huggingface(tmp_path)
    model.save_pretrained(tmp_path / "ours")
    loaded = polymodal.load(tmp_path / "ours")
    assert list(loaded.transform.config().mean) == [0.1, 0.2, 0.3]
    batch = loaded.preprocess([torch.rand(3, 40, 50)])
    assert batch.pixels.shape == (1, 3, 32, 32)


def test_classification_head_is_unexpected(tmp_path):
    hf = transformers.ViTForImageClassification(random_vit().config)
    hf.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="classifier"):
        from_huggingface(tmp_path)
