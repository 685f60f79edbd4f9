"""MetaTransformer: frozen shared encoder, trainable stems, one-pass encoding, save/load with preprocessing."""

import pytest
import torch

pytest.importorskip("polymodal.models.text_model", reason="needs the foundation's text model (merged from main)")
pytest.importorskip("polymodal.modalities.audio", reason="needs the audio modality (merged from main)")

import polymodal  # noqa: E402
from polymodal.encoder import EncoderConfig, TransformerEncoder  # noqa: E402
from polymodal.modalities.audio import AudioBatch  # noqa: E402
from polymodal.modalities.text import TextTokenizer, TextTokenizerConfig, TextTransform  # noqa: E402
from polymodal.models.meta_transformer import MetaTransformer, TokenizerSpec  # noqa: E402
from polymodal.models.text_model import TextEncoderModel  # noqa: E402

WORDS = ["a", "handwritten", "someone", "saying", "zero", "one", "two"]


def _tiny(shared_encoder: str = "pretrained") -> MetaTransformer:
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    text = TextEncoderModel(
        TextTokenizer(TextTokenizerConfig(vocab_size=len(vocab), dim=32, max_positions=16)),
        TransformerEncoder(EncoderConfig(dim=32, depth=1, num_heads=2, cls_token=False, pool="mean", norm_first=False, final_norm=False, layer_norm_eps=1e-12)),
        text_transform=TextTransform.from_vocab(vocab, max_length=16),
        pooling="mean",
    )
    return MetaTransformer(
        text,
        {
            "image": TokenizerSpec("image_conv_rows", {"channels": 4}),
            "audio": TokenizerSpec("audio_conv", {"channels": 4, "frames_per_token": 4, "max_tokens": 8, "num_mel_bins": 16}),
        },
        shared_encoder=shared_encoder,
        preprocessing={"audio": {"num_mel_bins": 16, "fixed_frames": 32, "mean": None, "std": None}, "image": {"size": [8, 8], "mean": 0.3, "std": 0.4}},
        class_names=["zero", "one", "two"],
        templates={"image": ["a handwritten {}"], "audio": ["someone saying {}"]},
    )


def _inputs(b: int = 3):
    return {"image": torch.randn(b, 1, 8, 8), "audio": AudioBatch(torch.randn(b, 32, 16), torch.full((b,), 32))}


def test_only_stems_norms_projections_and_temperature_train() -> None:
    model = _tiny()
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"tokenizers", "token_norms", "projections", "logit_scale"}
    assert not any(p.requires_grad for p in model.text.parameters())
    model.train()
    assert not model.text.training and not model.encoder.training


def test_one_pass_equals_separate_passes_and_gradients_reach_the_stems() -> None:
    model = _tiny()
    inputs = _inputs()
    out = model(inputs)
    alone = {m: model.encode({m: x})[m] for m, x in inputs.items()}
    for m in inputs:
        torch.testing.assert_close(out.embeddings[m], alone[m], atol=1e-5, rtol=1e-5)
    (out.embeddings["image"].sum() + out.embeddings["audio"].sum() + out.logit_scale).backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_encoders_return_unit_vectors_in_the_text_space() -> None:
    model = _tiny().eval()
    with torch.no_grad():
        text = model.encode_text(["someone saying one", "a handwritten two"])
        image = model.encode_image(torch.randn(2, 1, 8, 8))
        audio = model.encode_audio(_inputs(2)["audio"])
    for x in (text, image, audio):
        assert x.shape == (2, 32)
        torch.testing.assert_close(x.norm(dim=-1), torch.ones(2))


def test_save_and_load_round_trip_keeps_weights_and_preprocessing(tmp_path) -> None:
    model = _tiny().eval()
    model.save_pretrained(tmp_path)
    loaded = polymodal.load(tmp_path)
    assert isinstance(loaded, MetaTransformer)
    assert loaded.preprocessing == model.preprocessing and loaded.class_names == model.class_names
    inputs = _inputs(2)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_audio(inputs["audio"]), model.encode_audio(inputs["audio"]))
        torch.testing.assert_close(loaded.encode_text(["a handwritten one"]), model.encode_text(["a handwritten one"]))


def test_random_encoder_ablation_is_frozen_and_separate() -> None:
    model = _tiny("random")
    assert model.encoder is not model.text.encoder
    assert not any(p.requires_grad for p in model.encoder.parameters())
    a = model.encode({"image": torch.randn(2, 1, 8, 8)})["image"]
    assert a.shape == (2, 32)


def test_tokenizer_spec_passes_the_width_by_keyword() -> None:
    # "patch" takes in_channels first: a positional width would have become its channel count.
    tokenizer = TokenizerSpec("patch", {"in_channels": 1, "patch_size": 4, "image_size": 8}).build(32)
    assert tokenizer.dim == 32
    assert tokenizer(torch.randn(2, 1, 8, 8)).embeddings.shape == (2, 4, 32)
