"""Parity of the CLIP converter with transformers.CLIPModel, from safetensors and from a torch.save .bin."""

import pytest
import torch

import polymodal
from polymodal.convert import from_huggingface
from polymodal.models import DualEncoder
from polymodal.modalities.text import TextBatch

transformers = pytest.importorskip("transformers")
VOCAB, BOS, EOS, PAD = 50, 48, 49, 1


def random_clip():
    config = transformers.CLIPConfig(
        text_config=dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, vocab_size=VOCAB,
            max_position_embeddings=16, eos_token_id=EOS, bos_token_id=BOS, pad_token_id=PAD,
        ),
        vision_config=dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=40, image_size=32, patch_size=8),
        projection_dim=16,
    )
    return transformers.CLIPModel(config).eval()


def text_batch(lengths, width=12):
    ids = torch.randint(2, BOS, (len(lengths), width))
    mask = torch.zeros(len(lengths), width, dtype=torch.bool)
    for i, n in enumerate(lengths):
        ids[i, 0], ids[i, n - 1], ids[i, n:] = BOS, EOS, PAD
        mask[i, :n] = True
    return TextBatch(ids, mask, torch.zeros_like(ids))


def tensor(x):
    return getattr(x, "pooler_output", x)  # transformers 5 may return an output object


def assert_clip_parity(model: DualEncoder, hf, atol=1e-5):
    batch, pixels = text_batch([7, 3, 12]), torch.randn(2, 3, 32, 32)
    ids, mask = batch.input_ids, batch.attention_mask.long()
    with torch.no_grad():
        ours_t = model.text(batch, output_hidden_states=True)
        ref_t = hf.text_model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        real = batch.attention_mask[..., None]
        for a, b in zip(ours_t.hidden_states, ref_t.hidden_states, strict=True):
            assert ((a - b) * real).abs().max() <= atol
        assert (ours_t.pooled - ref_t.pooler_output).abs().max() <= atol
        ours_v = model.vision(pixels, output_hidden_states=True)
        ref_v = hf.vision_model(pixel_values=pixels, output_hidden_states=True)
        for a, b in zip(ours_v.hidden_states, ref_v.hidden_states, strict=True):
            assert (a - b).abs().max() <= atol
        assert (ours_v.pooled - ref_v.pooler_output).abs().max() <= atol
        assert (model.encode_text(batch) - tensor(hf.get_text_features(input_ids=ids, attention_mask=mask))).abs().max() <= atol
        assert (model.encode_image(pixels) - tensor(hf.get_image_features(pixel_values=pixels))).abs().max() <= atol
        out = model(batch, pixels)
        ref = hf(input_ids=ids, attention_mask=mask, pixel_values=pixels)
    assert (out.logits_per_image - ref.logits_per_image).abs().max() <= atol * 100  # logits are scaled by ~14
    assert torch.equal(out.logits_per_text, out.logits_per_image.T)


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_clip_parity_from_disk(tmp_path, fmt):
    hf = random_clip()
    if fmt == "safetensors":
        hf.save_pretrained(tmp_path)
    else:
        hf.config.save_pretrained(tmp_path)
        torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
    model = from_huggingface(tmp_path)
    assert isinstance(model, DualEncoder) and model.text.causal and model.text.pooling == "last"
    assert_clip_parity(model, hf)
    model.save_pretrained(tmp_path / "ours")
    assert_clip_parity(polymodal.load(tmp_path / "ours"), hf)


def test_padding_after_eos_changes_nothing(tmp_path):
    hf = random_clip()
    hf.save_pretrained(tmp_path)
    model = from_huggingface(tmp_path)
    short = text_batch([5], width=5)
    ids = torch.cat([short.input_ids, torch.full((1, 6), PAD)], dim=1)
    padded = TextBatch(ids, torch.cat([short.attention_mask, torch.zeros(1, 6, dtype=torch.bool)], 1), torch.zeros_like(ids))
    with torch.no_grad():
        torch.testing.assert_close(model.encode_text(short), model.encode_text(padded), atol=1e-6, rtol=0)
