"""Assembled models. (Other models are added here as they land.)"""

from polymodal.models.captioner import Captioner, CaptionerConfig, CaptionerOutput
from polymodal.models.generation import STRATEGIES, GenerationConfig, GenerationOutput, generate
from polymodal.models.vocabulary import WordVocabulary

__all__ = [
    "Captioner",
    "CaptionerConfig",
    "CaptionerOutput",
    "GenerationConfig",
    "GenerationOutput",
    "STRATEGIES",
    "generate",
    "WordVocabulary",
]
