"""polymodal: one transformer framework for every modality.

Meta-Transformer's ``h ∘ g ∘ f``: per-modality data-to-sequence tokenizers ``f`` that
return :class:`Tokens`, one shared encoder ``g``, and task heads ``h``; plus the
cross-modal fusion strategies of Xu, Zhu & Clifton's survey.
"""

from polymodal import errors
from polymodal.checkpoints.io import PretrainedModel, load
from polymodal.tokens import Tokens

__version__ = "0.1.0"

__all__ = ["PretrainedModel", "Tokens", "errors", "load", "__version__"]
