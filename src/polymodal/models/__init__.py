"""Assembled models, composed from tokenizers, encoders, fusions and heads passed in."""

from polymodal.models.fusion_model import FusionClassifier, FusionClassifierOutput

__all__ = ["FusionClassifier", "FusionClassifierOutput"]
