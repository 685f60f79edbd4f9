"""compile_for_inference: frozen-weight torch.compile gives the eager outputs, in one graph."""

import copy
import sys

import pytest
import torch

from polymodal import Tokens
from polymodal.convert import from_huggingface
from polymodal.encoder import EncoderConfig, TransformerEncoder
from polymodal.errors import InputError
from polymodal.inference import compile_for_inference, compiler_available

transformers = pytest.importorskip("transformers")

pytestmark = [
    pytest.mark.slow,  # each case compiles C++ kernels: 5-15 s on 2 cores
    pytest.mark.skipif(not compiler_available("cpu"), reason="torch.compile on the CPU needs a C++ compiler"),
]


def tiny_vit(tmp_path):
    config = transformers.ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, image_size=32, patch_size=8
    )
    transformers.ViTModel(config).save_pretrained(tmp_path)
    return from_huggingface(tmp_path).eval()


def test_compiled_vit_equals_eager_in_one_graph(tmp_path):
    eager = tiny_vit(tmp_path)
    model = compile_for_inference(copy.deepcopy(eager), fullgraph=True)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    for batch in (3, 5):  # a second shape recompiles
        pixels = torch.randn(batch, 3, 32, 32)
        with torch.no_grad():
            reference = eager(pixels, output_hidden_states=True)
        out = model(pixels, output_hidden_states=True)
        torch.testing.assert_close(out.hidden, reference.hidden, atol=1e-5, rtol=1e-5)
        for a, b in zip(out.hidden_states, reference.hidden_states):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model.encode_image(pixels), eager.encode_image(pixels), atol=1e-5, rtol=1e-5)
    assert not out.hidden.requires_grad


def test_compiled_encoder_keeps_padding_and_missing_rows_in_one_graph():
    eager = TransformerEncoder(EncoderConfig(dim=16, depth=2, num_heads=4, pool="mean")).eval()
    tokens = Tokens.from_list([torch.randn(5, 16), torch.randn(2, 16), torch.randn(4, 16)], "test")
    missing = tokens.replace(mask=tokens.mask & torch.tensor([True, True, False])[:, None])  # row 2 absent
    model = compile_for_inference(copy.deepcopy(eager), fullgraph=True)
    for batch in (tokens, missing):
        with torch.no_grad():
            reference = eager(batch)
        out = model(batch)
        torch.testing.assert_close(out.hidden, reference.hidden, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.pooled, reference.pooled, atol=1e-5, rtol=1e-5)
    assert torch.equal(out.pooled[2], torch.zeros(16))
    # Padding still changes no real token under compilation.
    noisy = tokens.replace(embeddings=tokens.embeddings + 100 * (~tokens.mask[..., None]).float())
    torch.testing.assert_close(model(noisy).pooled, model(tokens).pooled, atol=1e-5, rtol=1e-5)


def test_compiled_text_model_with_padded_batches_in_one_graph(tmp_path):
    config = transformers.BertConfig(
        vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        max_position_embeddings=24,
    )
    transformers.BertModel(config).save_pretrained(tmp_path)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(35)]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    eager = from_huggingface(tmp_path)
    model = compile_for_inference(from_huggingface(tmp_path), fullgraph=True)
    for sentences in (["w1 w2 w3 w4 w5", "w6", "w7 w8"], ["w9 w10", "w11 w12 w13 w14 w15 w16 w17 w18"]):
        with torch.no_grad():
            reference = eager.encode_text(sentences)
        torch.testing.assert_close(model.encode_text(sentences), reference, atol=1e-5, rtol=1e-5)


def test_compiled_file_classifier_with_a_modality_some_samples_lack():
    from polymodal.modalities.audio import AudioBatch
    from polymodal.models import FileClassifier
    from polymodal.models.meta_transformer import TokenizerSpec

    eager = FileClassifier(
        ["a", "b", "c"],
        {"image": TokenizerSpec("patch", {"in_channels": 1, "patch_size": 4, "image_size": 8}),
         "audio": TokenizerSpec("audio_conv", {"num_mel_bins": 16, "channels": 4, "frames_per_token": 8, "max_tokens": 4})},
        {"image": {"size": 8, "crop": 8, "mean": 0.5, "std": 0.5}, "audio": {"num_mel_bins": 16, "mean": None, "std": None}},
        dim=32,
        fusion_options={"depth": 2},
    ).eval()
    model = compile_for_inference(copy.deepcopy(eager), fullgraph=True)
    batch = {"image": torch.randn(2, 1, 8, 8), "audio": AudioBatch(torch.randn(3, 32, 16), torch.tensor([32, 20, 32]))}
    present = {"image": torch.tensor([True, False, True])}
    with torch.no_grad():
        reference = eager(batch, present=present).logits
    torch.testing.assert_close(model(batch, present=present).logits, reference, atol=1e-5, rtol=1e-5)


def test_changed_weights_or_training_mode_are_refused(tmp_path):
    model = compile_for_inference(tiny_vit(tmp_path))
    pixels = torch.randn(2, 3, 32, 32)
    model(pixels)
    model.train()
    with pytest.raises(InputError, match="model.training"):
        model(pixels)
    model.eval()
    # The compiled graph holds frozen copies: a weight changed in place, or replaced, is refused.
    with torch.no_grad():
        model.encoder.blocks[1].mlp.fc2.weight.add_(1.0)
    with pytest.raises(InputError, match=r"blocks\.1\.mlp\.fc2\.weight"):
        model(pixels)
    model = compile_for_inference(tiny_vit(tmp_path / "again"))
    model(pixels)
    model.encoder.blocks[0].mlp.fc1.weight = torch.nn.Parameter(torch.zeros(64, 32), requires_grad=False)
    with pytest.raises(InputError, match=r"blocks\.0\.mlp\.fc1\.weight"):
        model(pixels)
    with pytest.raises(InputError, match="already compiled"):
        compile_for_inference(model)
    with pytest.raises(InputError, match="torch.nn.Module"):
        compile_for_inference(lambda x: x)


def test_compiler_check_follows_path_and_cxx(monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("CXX", "")
    assert not compiler_available("cpu")
    monkeypatch.setenv("CXX", sys.executable)  # any executable named by $CXX counts, as for inductor
    assert compiler_available("cpu")
