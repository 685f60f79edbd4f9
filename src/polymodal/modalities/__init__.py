"""Data-to-sequence tokenizers, one file per modality, registered by name.

Importing this package registers every built-in modality in :data:`MODALITIES` and
their tokenizers in :data:`TOKENIZERS`.
"""

from polymodal.modalities.base import MODALITIES, TOKENIZERS, Batch, ModalitySpec, Tokenizer, modality_for_file

# Each modality module registers itself on import; add new modalities to this list.
from polymodal.modalities import (  # noqa: E402,F401
    audio,
    graph,
    image,
    image_stem,
    multichannel,
    point_cloud,
    tabular,
    text,
    time_series,
    video,
)

__all__ = ["MODALITIES", "TOKENIZERS", "Batch", "ModalitySpec", "Tokenizer", "modality_for_file"]
