"""Evaluation: zero-shot classification, retrieval metrics, classification metrics, attention read-outs."""

from polymodal.evaluation.attention import attention_rollout, plot_cross_attention
from polymodal.evaluation.metrics import accuracy, balanced_accuracy, confusion_matrix, macro_f1, top_k_accuracy
from polymodal.evaluation.retrieval import (
    CrossModalRetrieval,
    RetrievalResult,
    cross_modal_retrieval,
    match_matrix,
    retrieval_metrics,
)
from polymodal.evaluation.zero_shot import DEFAULT_TEMPLATES, ZeroShotClassifier, class_embeddings

__all__ = [
    "DEFAULT_TEMPLATES",
    "ZeroShotClassifier",
    "class_embeddings",
    "CrossModalRetrieval",
    "RetrievalResult",
    "cross_modal_retrieval",
    "match_matrix",
    "retrieval_metrics",
    "accuracy",
    "top_k_accuracy",
    "confusion_matrix",
    "balanced_accuracy",
    "macro_f1",
    "attention_rollout",
    "plot_cross_attention",
]
