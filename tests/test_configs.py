"""One configuration story: every registered part answers ``config()`` with a typed config and
``type(obj).from_config(obj.config())`` rebuilds an equal object in structure (same class,
same config, same parameter names and shapes), JSON round trip included."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import polymodal
from polymodal.configurable import Config, Configurable, to_json
from polymodal.encoder import EncoderConfig, TransformerEncoder
from polymodal.errors import ConfigError
from polymodal.fusion import FUSIONS, build_fusion
from polymodal.heads.base import HEADS
from polymodal.modalities import MODALITIES, TOKENIZERS, TokenizerSpec
from polymodal.models.base import MODELS
from polymodal.objectives.base import OBJECTIVES

# Tiny options for tokenizers whose defaults are large or that need a shape.
TOKENIZER_OPTIONS = {
    "audio_conv": {"num_mel_bins": 16, "channels": 8},
    "audio_patch": {"num_mel_bins": 16, "patch_size": 4, "stride": 4, "max_frames": 32},
    "ft_tokenizer": {"num_numeric": 2, "cardinalities": [3, 4]},
    "graphormer": {"num_heads": 2},
    "image_conv_rows": {"image_size": [8, 8], "channels": 4},
    "mc_patch": {"in_channels": 2, "patch_size": 4, "image_size": 8},
    "patch": {"in_channels": 1, "patch_size": 4, "image_size": [8, 12], "norm": True},
    "patch_tst": {"channels": 2, "patch_len": 4, "stride": 2, "max_patches": 8},
    "point_sa": {"feature_channels": 1, "k": 4},
    "spectral_patch": {"in_channels": 4, "band_group": 2, "patch_size": 4, "image_size": 8},
    "text": {"vocab_size": 50, "max_positions": 16},
    "tubelet": {"tubelet": [2, 4], "num_frames": 4, "image_size": [8, 8]},
}
TRANSFORM_OPTIONS = {
    "tabular": {"numeric": ["a"], "categorical": ["c"], "mean": [0.5], "std": [2.0], "categories": {"c": ["x", "y"]}},
    "time_series": {"channels": 2, "normalize": "dataset", "mean": [0.0, 1.0], "std": [1.0, 2.0]},
    "image": {"size": 8, "crop": 8, "mean": 0.5, "std": 0.25},
    "audio": {"num_mel_bins": 16, "fixed_frames": 32},
}
HEAD_ARGS = {
    "classification": {"dim": 8, "num_classes": 3, "hidden_dim": 16},
    "mlm": {"dim": 8},
    "patch_reconstruction": {"dim": 8, "patch_dim": 12},
    "projection": {"dim": 8, "embed_dim": 4},
    "regression": {"dim": 8, "num_outputs": 2},
}


def assert_same_structure(a: object, b: object) -> None:
    assert type(a) is type(b)
    assert a.config() == b.config()
    if isinstance(a, nn.Module):
        assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}


def round_trip(obj: Configurable, **parts) -> None:
    config = obj.config()
    assert isinstance(config, Config)
    assert_same_structure(obj, type(obj).from_config(config, **parts))
    data = json.loads(json.dumps(config.model_dump(mode="json")))  # as config.json holds it
    assert_same_structure(obj, type(obj).from_config(data, **parts))


@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_every_tokenizer(name):
    tokenizer = TokenizerSpec(name, TOKENIZER_OPTIONS.get(name, {})).build(16)
    round_trip(tokenizer)
    assert tokenizer.config().dim == 16


@pytest.mark.parametrize("name", MODALITIES.names())
def test_every_transform(name):
    cls = MODALITIES.get(name).transform
    if name == "text":  # its vocabulary is an asset (tokenizer.json), a part of the config
        transform = polymodal.modalities.text.TextTransform.from_vocab({"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4}, max_length=8)
        round_trip(transform, tokenizer=transform.tokenizer)
        return
    round_trip(cls.from_config(TRANSFORM_OPTIONS.get(name, {})))


@pytest.mark.parametrize("name", FUSIONS.names())
def test_every_fusion(name):
    round_trip(build_fusion(name, {"modalities": ["b", "a"], "dim": 16, "num_heads": 2}))


@pytest.mark.parametrize("name", HEADS.names())
def test_every_head(name):
    cls = HEADS.get(name)
    parts = {"embedding": nn.Embedding(20, 8)} if name == "mlm" else {}
    round_trip(cls.from_config(HEAD_ARGS[name], **parts), **parts)


@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_every_objective(name):
    cls = OBJECTIVES.get(name)
    options = {"masked_patch": {"num_patches": 4, "patch_dim": 12, "decoder_dim": 8, "decoder_depth": 1, "decoder_heads": 2},
               "matching": {"dim": 8}, "infonce": {"pairs": "anchor", "anchor": "image"}}.get(name, {})  # fmt: skip
    parts = {"encoder": TransformerEncoder(dim=8, depth=1, num_heads=2, cls_token=False, pool="mean")} if name == "masked_patch" else {}
    round_trip(cls.from_config(options, **parts), **parts)


def test_the_encoder_and_its_config():
    encoder = TransformerEncoder(dim=16, depth=1, num_heads=2)
    assert encoder.config() is encoder.config and isinstance(encoder.config, EncoderConfig)
    assert_same_structure(encoder, TransformerEncoder.from_config(encoder.config().model_dump(mode="json")))
    with pytest.raises(ConfigError, match="encoder.num_heads: expected a divisor of dim=16, got 3"):
        EncoderConfig(dim=16, num_heads=3)


def _tiny_models() -> dict[str, object]:
    from polymodal.models import AudioEncoderModel, Captioner, CaptionerConfig, FileClassifier, TextEncoderModel, VisionEncoderModel
    from polymodal.models.dual_encoder import DualEncoder
    from polymodal.modalities.audio import AudioPatchTokenizer
    from polymodal.modalities.image import PatchTokenizer
    from polymodal.modalities.text import TextTokenizer

    vision = VisionEncoderModel(PatchTokenizer(1, 16, 4, 8), TransformerEncoder(dim=16, depth=1, num_heads=2), pooler=True)
    text = TextEncoderModel(TextTokenizer(vocab_size=30, dim=16, max_positions=8), TransformerEncoder(dim=16, depth=1, num_heads=2, cls_token=False, pool="mean"))
    return {
        "vision_encoder": vision,
        "audio_encoder": AudioEncoderModel(AudioPatchTokenizer(16, num_mel_bins=16, patch_size=4, stride=4, max_frames=16), TransformerEncoder(dim=16, depth=1, num_heads=2)),
        "text_encoder": text,
        "dual_encoder": DualEncoder(text, vision, 8),
        "captioner": Captioner(CaptionerConfig(vocab_size=20, dim=16, depth=1, num_heads=2, max_length=8)),
        "file_classifier": FileClassifier(
            ["a", "b"], {"image": TokenizerSpec("patch", {"in_channels": 1, "patch_size": 4, "image_size": 8})},
            {"image": {"size": 8, "crop": 8, "mean": 0.5, "std": 0.5}}, fusion="late", dim=16, num_heads=2, fusion_options={"depth": 1},
        ),
    }  # fmt: skip


# meta_transformer needs the pretrained MiniLM folder: its round trip is in tests/models/test_meta_transformer.py.
# (Other test modules register stand-in models of their own: polymodal's are those under test here.)
MODEL_NAMES = [n for n, cls in MODELS.items() if cls.__module__.startswith("polymodal.") and n != "meta_transformer"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model(name, tmp_path):
    model = _tiny_models()[name]
    config = model.config()
    if name == "file_classifier":  # owned by models/file_classifier.py: a mapping of typed parts, for now
        assert isinstance(config, dict)
    else:
        assert isinstance(config, Config)
    again = type(model).from_config(json.loads(json.dumps(to_json(config))))
    assert type(again) is type(model) and to_json(again.config()) == to_json(config)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in again.state_dict().items()}
    model.save_pretrained(tmp_path / name)
    loaded = polymodal.load(tmp_path / name)
    assert to_json(loaded.config()) == to_json(config)


def test_a_bad_option_names_the_field():
    with pytest.raises(ConfigError, match=r"tokenizer.patch.patch_sise: expected a known key \(valid: bias, dim, image_size"):
        TokenizerSpec("patch", {"patch_sise": 8}).build(16)
    with pytest.raises(ConfigError, match="tokenizer.patch.patch_size: expected an integer, got eight"):
        TokenizerSpec("patch", {"patch_size": "eight"}).build(16)
    with pytest.raises(ConfigError, match="tokenizer.patch_tst.channel_mode: expected one of 'independent' or 'mixing'"):
        polymodal.build_tokenizer("patch_tst", dim=16, channel_mode="both")
    with pytest.raises(ConfigError, match="ImageTransform.resize: expected one of 'shortest' or 'exact', got fill"):
        MODALITIES.get("image").transform.from_config({"resize": "fill"})
    with pytest.raises(ConfigError, match="ClassificationHead.num_classes: expected a value"):
        HEADS.get("classification").from_config({"dim": 8})
    with pytest.raises(ConfigError, match="MLMHead.embedding"):
        HEADS.get("mlm").from_config({"dim": 8})


def test_a_folder_written_by_the_previous_version_loads(tmp_path):
    """config.json as 0.2's ``config_dict`` wrote it (a captioner kept its vocabulary inline)."""
    from polymodal.models import Captioner, CaptionerConfig, WordVocabulary

    vocabulary = WordVocabulary.from_texts(["a cat", "a dog"])
    model = Captioner(CaptionerConfig(vocab_size=len(vocabulary), dim=16, depth=1, num_heads=2, max_length=8), vocabulary)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    legacy = {k: config[k] for k in ("model_type", "polymodal_version", "requires")}
    legacy.update(captioner={k: v for k, v in config.items() if k not in legacy}, vocabulary=vocabulary.to_dict())
    legacy["polymodal_version"] = "0.2.0"
    (tmp_path / "config.json").write_text(json.dumps(legacy))
    (tmp_path / "vocabulary.json").unlink()
    loaded = polymodal.load(tmp_path)
    assert loaded.config() == model.config() and loaded.vocabulary.itos == vocabulary.itos
    torch.testing.assert_close(loaded.token_embed.weight, model.token_embed.weight)
