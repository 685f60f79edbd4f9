"""Assembled models, composed from tokenizers, encoders, fusions and heads passed in.

:data:`~polymodal.models.base.MODELS` fills itself on first use (its built-in modules are
listed in ``models/base.py``; plugins add theirs through the ``polymodal.models`` group).
"""

from polymodal.models.audio_model import AudioEncoderModel
from polymodal.models.captioner import Captioner, CaptionerConfig, CaptionerOutput
from polymodal.models.dual_encoder import DualEncoder, DualEncoderOutput
from polymodal.models.file_classifier import FileClassifier
from polymodal.models.fusion_model import FusionClassifier, FusionClassifierOutput
from polymodal.models.meta_transformer import MetaTransformer, MetaTransformerOutput
from polymodal.models.generation import STRATEGIES, GenerationConfig, GenerationOutput, generate
from polymodal.models.text_model import TextEncoderModel
from polymodal.models.vision_model import VisionEncoderModel
from polymodal.models.vocabulary import WordVocabulary

__all__ = [
    "AudioEncoderModel",
    "Captioner",
    "CaptionerConfig",
    "CaptionerOutput",
    "DualEncoder",
    "DualEncoderOutput",
    "FileClassifier",
    "FusionClassifier",
    "FusionClassifierOutput",
    "GenerationConfig",
    "MetaTransformer",
    "MetaTransformerOutput",
    "GenerationOutput",
    "STRATEGIES",
    "TextEncoderModel",
    "VisionEncoderModel",
    "WordVocabulary",
    "generate",
]
