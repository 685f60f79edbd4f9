"""Data-to-sequence tokenizers, one file (or folder) per modality, registered by name.

:data:`MODALITIES` and :data:`TOKENIZERS` fill themselves on first use with the built-in
modalities and with those of installed plugins (entry-point groups ``polymodal.modalities``
and ``polymodal.tokenizers``).
"""

from polymodal.modalities.base import (
    MODALITIES,
    TOKENIZERS,
    Batch,
    Modality,
    Tokenizer,
    TokenizerSpec,
    can_read,
    modality_for_file,
)

__all__ = ["MODALITIES", "TOKENIZERS", "Batch", "Modality", "Tokenizer", "TokenizerSpec", "can_read", "modality_for_file"]
