"""Data-to-sequence tokenizers, one file per modality, registered by name.

Importing this package registers every built-in modality in :data:`MODALITIES` and
their tokenizers in :data:`TOKENIZERS`.
"""

from polymodal.modalities.base import MODALITIES, TOKENIZERS, Batch, ModalitySpec, Tokenizer, modality_for_file

# Each modality module registers itself on import; add new modalities to this list.
# (Modules are added here as they land.)
from polymodal.modalities import audio  # noqa: E402,F401
from polymodal.modalities import image_stem  # noqa: E402,F401
from polymodal.modalities import point_cloud  # noqa: E402,F401
from polymodal.modalities import time_series  # noqa: E402,F401
from polymodal.modalities import tabular  # noqa: E402,F401
from polymodal.modalities import graph  # noqa: E402,F401
from polymodal.modalities import video  # noqa: E402,F401
from polymodal.modalities import multichannel  # noqa: E402,F401

__all__ = ["MODALITIES", "TOKENIZERS", "Batch", "ModalitySpec", "Tokenizer", "modality_for_file"]
