"""Assembled models. Importing this package registers every built-in model in ``MODELS``.

Add each new model module to the imports below so that ``polymodal.load`` finds it.
"""

from polymodal.models.text_model import TextEncoderModel

__all__ = ["TextEncoderModel"]
