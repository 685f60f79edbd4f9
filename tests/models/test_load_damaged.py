"""Loading a damaged model folder is a :class:`CheckpointError` naming the file and key, for
every registered model type (issue 14, family 2): mutations of real saved folders."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import polymodal
from polymodal.errors import CheckpointError
from polymodal.models.base import MODELS

transformers = pytest.importorskip("transformers")


def _convert(hf, tmp: Path, extra: Callable[[Path], None] | None = None) -> Path:
    from polymodal.convert import from_huggingface

    hf.save_pretrained(tmp / "hf")
    if extra is not None:
        extra(tmp / "hf")
    return from_huggingface(tmp / "hf").save_pretrained(tmp / "model")


def _vision(tmp: Path) -> Path:
    config = transformers.ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=16, patch_size=8)
    return _convert(transformers.ViTModel(config), tmp)


def _audio(tmp: Path) -> Path:
    config = transformers.ASTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_mel_bins=16, max_length=32)
    return _convert(transformers.ASTModel(config), tmp)


def _text(tmp: Path) -> Path:
    config = transformers.BertConfig(vocab_size=12, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_position_embeddings=16)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *[f"w{i}" for i in range(7)]]
    return _convert(transformers.BertModel(config), tmp, lambda d: (d / "vocab.txt").write_text("\n".join(vocab)))


def _dual(tmp: Path) -> Path:
    config = transformers.CLIPConfig(
        text_config=dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, vocab_size=30, max_position_embeddings=16),
        vision_config=dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=16, patch_size=8),
        projection_dim=8,
    )
    vocab = {f"w{i}": i for i in range(30)}
    from polymodal.modalities.text import TextTransform

    def tokenizer(folder: Path) -> None:
        vocab.update({"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3})
        TextTransform.from_vocab(vocab, max_length=16).save(folder)

    return _convert(transformers.CLIPModel(config), tmp, tokenizer)


def _captioner(tmp: Path) -> Path:
    from polymodal.models import Captioner, CaptionerConfig

    return Captioner(CaptionerConfig(vocab_size=11, dim=16, depth=1, num_heads=2, max_length=8)).save_pretrained(tmp / "model")


def _meta_transformer(tmp: Path) -> Path:
    from polymodal.encoder import EncoderConfig, TransformerEncoder
    from polymodal.modalities.text import TextTokenizer, TextTokenizerConfig, TextTransform
    from polymodal.models.meta_transformer import MetaTransformer, TokenizerSpec
    from polymodal.models.text_model import TextEncoderModel

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "zero", "one"])}
    text = TextEncoderModel(
        TextTokenizer(TextTokenizerConfig(vocab_size=len(vocab), dim=16, max_positions=16)),
        TransformerEncoder(EncoderConfig(dim=16, depth=1, num_heads=2, cls_token=False, pool="mean")),
        text_transform=TextTransform.from_vocab(vocab, max_length=16),
        pooling="mean",
    )
    model = MetaTransformer(
        text,
        {"image": TokenizerSpec("image_conv_rows", {"channels": 4})},
        shared_encoder="pretrained",
        preprocessing={"image": {"size": [8, 8], "mean": 0.3, "std": 0.4}},
        class_names=["zero", "one"],
        templates={"image": ["a {}"]},
    )
    return model.save_pretrained(tmp / "model")


def _file_classifier(tmp: Path) -> Path:
    from polymodal.modalities.base import TokenizerSpec
    from polymodal.modalities.text import TextTransform
    from polymodal.models import FileClassifier

    model = FileClassifier(
        ["cat", "dog"],
        {"image": TokenizerSpec("patch", {"in_channels": 1, "patch_size": 4, "image_size": 8}), "text": TokenizerSpec("text")},
        {"image": {"size": 8, "crop": 8, "mean": 0.5, "std": 0.5}, "text": TextTransform.train_wordpiece(["a cat", "a dog"] * 5, vocab_size=30, max_length=8)},
        dim=16,
        num_heads=2,
        fusion_options={"depth": 1},
    )
    return model.save_pretrained(tmp / "model")


BUILDERS = {
    "vision_encoder": _vision,
    "audio_encoder": _audio,
    "text_encoder": _text,
    "dual_encoder": _dual,
    "captioner": _captioner,
    "meta_transformer": _meta_transformer,
    "file_classifier": _file_classifier,
}


def test_every_registered_model_type_is_covered() -> None:
    own = {name for name in MODELS.names() if MODELS.get(name).__module__.startswith("polymodal.")}
    assert set(BUILDERS) == own


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def saved(request, tmp_path_factory) -> Path:
    folder = BUILDERS[request.param](tmp_path_factory.mktemp(request.param))
    polymodal.load(folder)  # the intact folder loads
    return folder


def _copy(saved: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved, tmp_path / "copy"))


def _load_expecting(folder: Path, file: str, key: str | None = None) -> None:
    """Loading either works or raises CheckpointError naming ``file`` and, unless the config
    was still valid and only disagrees with the weights (a key with a default), ``key``."""
    try:
        polymodal.load(folder)
    except CheckpointError as exc:
        assert file in str(exc), f"{file!r} not named in: {exc}"
        if key is not None and "expected keys and shapes that match the model" not in str(exc):
            assert key in str(exc), f"{key!r} not named in: {exc}"


def _config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def test_each_missing_key_is_named(saved: Path, tmp_path: Path) -> None:
    for key in [k for k in _config(saved) if k not in ("model_type", "polymodal_version", "requires")]:
        folder = _copy(saved, tmp_path)
        config = _config(folder)
        del config[key]
        (folder / "config.json").write_text(json.dumps(config))
        _load_expecting(folder, "config.json", key)
        shutil.rmtree(folder)


@pytest.mark.parametrize("wrong", ["a string", None, [], {}, -3, 1.5, True])
def test_each_mistyped_value_is_a_checkpoint_error(saved: Path, tmp_path: Path, wrong) -> None:
    for key in [k for k in _config(saved) if k not in ("polymodal_version",)]:
        folder = _copy(saved, tmp_path)
        config = _config(folder)
        config[key] = wrong
        (folder / "config.json").write_text(json.dumps(config))
        _load_expecting(folder, "config.json")
        shutil.rmtree(folder)


def test_an_unknown_type_and_a_module_to_import_are_refused(saved: Path, tmp_path: Path) -> None:
    folder = _copy(saved, tmp_path)
    config = _config(folder)
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "polymodal.__main__"}))
    with pytest.raises(CheckpointError, match=r"config.json: model_type: expected one of .*file_classifier"):
        polymodal.load(folder)
    (folder / "config.json").write_text(json.dumps({**config, "model_module": "polymodal.__main__"}))
    assert isinstance(polymodal.load(folder), torch.nn.Module)  # ignored, never imported


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"\xff\x00 not what it should be {[")


@pytest.mark.parametrize("damage", [_truncate, _garbage, Path.unlink], ids=["truncated", "garbage", "missing"])
def test_each_damaged_file_is_named(saved: Path, tmp_path: Path, damage) -> None:
    for name in sorted(p.name for p in saved.iterdir() if p.is_file()):
        folder = _copy(saved, tmp_path)
        damage(folder / name)
        if damage is Path.unlink and name == "text_transform.json":
            polymodal.load(folder)  # optional: tokenizer.json alone is a complete vocabulary
        else:
            with pytest.raises(CheckpointError) as info:
                polymodal.load(folder)
            assert name in str(info.value), str(info.value)
        shutil.rmtree(folder)
