"""Parity of the AST converter with transformers.ASTModel: features → tokens → pooled, and waveform → features."""

import numpy as np
import pytest
import torch

import polymodal
from polymodal.convert import from_huggingface
from polymodal.errors import CheckpointError
from polymodal.modalities.audio import AudioBatch

transformers = pytest.importorskip("transformers")

BINS, FRAMES = 32, 100  # 2 frequency x 9 time patches (16 x 16, stride 10)


def random_ast(**overrides):
    config = transformers.ASTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        num_mel_bins=BINS, max_length=FRAMES, **overrides,
    )
    torch.manual_seed(0)
    model = transformers.ASTModel(config).eval()
    with torch.no_grad():  # random, but not the zero-initialised tokens and positions
        for name in ("cls_token", "distillation_token", "position_embeddings"):
            getattr(model.embeddings, name).normal_(0, 0.5)
    return model


def features_batch(features: torch.Tensor) -> AudioBatch:
    return AudioBatch(features, torch.full((features.shape[0],), features.shape[1], dtype=torch.long))


def assert_ast_parity(model, hf, features, atol=1e-5):
    with torch.no_grad():
        ours = model(features_batch(features), output_hidden_states=True)
        ref = hf(input_values=features, output_hidden_states=True)
    assert len(ours.hidden_states) == len(ref.hidden_states) == hf.config.num_hidden_layers + 1
    for a, b in zip(ours.hidden_states, ref.hidden_states, strict=True):
        assert (a - b).abs().max() <= atol
    assert (ours.hidden - ref.last_hidden_state).abs().max() <= atol
    assert (ours.pooled - ref.pooler_output).abs().max() <= atol
    assert (model.encode_audio(features_batch(features)) - ref.pooler_output).abs().max() <= atol


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_ast_parity_from_disk(tmp_path, fmt):
    hf = random_ast()
    if fmt == "safetensors":
        hf.save_pretrained(tmp_path)
    else:
        hf.config.save_pretrained(tmp_path)
        torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")  # transformers 5's in-memory key names
    model = from_huggingface(tmp_path)
    assert_ast_parity(model, hf, torch.randn(3, FRAMES, BINS))
    model.save_pretrained(tmp_path / "ours")
    assert_ast_parity(polymodal.load(tmp_path / "ours"), hf, torch.randn(2, FRAMES, BINS))


def test_waveform_to_embedding_matches_the_feature_extractor_and_model(tmp_path):
    """A clip through the saved preprocessing (Kaldi fbank, AST's padding and normalisation) and the model."""
    hf = random_ast()
    hf.save_pretrained(tmp_path)
    extractor = transformers.ASTFeatureExtractor(num_mel_bins=BINS, max_length=FRAMES)
    extractor.save_pretrained(tmp_path)
    model = from_huggingface(tmp_path)
    t = np.arange(int(16000 * 0.7)) / 16000  # 0.7 s: 68 frames, padded to 100
    clip = (0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-t)).astype(np.float32)
    batch = model.preprocess([clip])
    reference = extractor(clip, sampling_rate=16000, return_tensors="pt").input_values
    assert batch.features.shape == reference.shape == (1, FRAMES, BINS)
    # The filterbank agrees with ASTFeatureExtractor's to about 1e-4 in log energy (/9 normalised).
    assert (batch.features - reference).abs().max() <= 1e-4
    with torch.no_grad():
        assert (model.encode_audio(batch) - hf(input_values=reference).pooler_output).abs().max() <= 1e-3


def test_classification_head_is_unexpected_and_strides_must_match(tmp_path):
    hf = transformers.ASTForAudioClassification(random_ast().config)
    hf.save_pretrained(tmp_path / "cls")
    with pytest.raises(CheckpointError, match="classifier"):
        from_huggingface(tmp_path / "cls")
    random_ast(time_stride=8).save_pretrained(tmp_path / "strides")
    with pytest.raises(CheckpointError, match="frequency_stride"):
        from_huggingface(tmp_path / "strides")
