"""Evaluation: metrics, retrieval, zero-shot and attention read-outs."""

from polymodal.evaluation.attention import attention_rollout, plot_cross_attention

__all__ = ["attention_rollout", "plot_cross_attention"]
