"""Assembled models. Importing this package registers every built-in model in ``MODELS``.

Add each new model module to the imports below so that ``polymodal.load`` finds it.
"""

from polymodal.models.text_model import TextEncoderModel
from polymodal.models.vision_model import VisionEncoderModel
from polymodal.models.dual_encoder import DualEncoder, DualEncoderOutput

__all__ = ["DualEncoder", "DualEncoderOutput", "TextEncoderModel", "VisionEncoderModel"]
