"""Evaluation: zero-shot classification, retrieval metrics, classification metrics."""

from polymodal.evaluation.zero_shot import DEFAULT_TEMPLATES, ZeroShotClassifier, class_embeddings

__all__ = ["DEFAULT_TEMPLATES", "ZeroShotClassifier", "class_embeddings"]
