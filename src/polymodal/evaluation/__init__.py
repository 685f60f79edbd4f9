"""Evaluation: zero-shot classification, retrieval metrics, classification metrics, attention read-outs."""

from polymodal.evaluation.attention import attention_rollout, plot_cross_attention
from polymodal.evaluation.zero_shot import DEFAULT_TEMPLATES, ZeroShotClassifier, class_embeddings

__all__ = ["DEFAULT_TEMPLATES", "ZeroShotClassifier", "attention_rollout", "class_embeddings", "plot_cross_attention"]
