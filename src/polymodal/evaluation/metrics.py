"""Classification metrics: accuracy, top-k accuracy and confusion-matrix figures."""

from __future__ import annotations

import torch
from torch import Tensor

from polymodal.errors import InputError

__all__ = ["accuracy", "top_k_accuracy", "confusion_matrix", "balanced_accuracy", "macro_f1"]


def _predictions(scores_or_predictions: Tensor) -> Tensor:
    """``[B]`` indices from ``[B, C]`` scores (argmax) or from ``[B]`` predictions."""
    if scores_or_predictions.ndim == 2:
        return scores_or_predictions.argmax(dim=-1)
    if scores_or_predictions.ndim == 1:
        return scores_or_predictions
    raise InputError("predictions", "[B, C] scores or [B] class indices", scores_or_predictions)


def accuracy(scores_or_predictions: Tensor, targets: Tensor) -> float:
    """Share of samples whose (arg-max) prediction equals ``targets [B]``."""
    predictions = _predictions(scores_or_predictions)
    if predictions.shape != targets.shape:
        raise InputError("targets", f"[{predictions.shape[0]}] class indices", targets)
    return (predictions == targets).float().mean().item()


def top_k_accuracy(scores: Tensor, targets: Tensor, k: int = 5) -> float:
    """Share of samples whose target is among the ``k`` highest of ``scores [B, C]``."""
    if scores.ndim != 2:
        raise InputError("scores", "[B, C] scores", scores)
    top = scores.topk(min(k, scores.shape[1]), dim=-1).indices
    return (top == targets[:, None]).any(dim=-1).float().mean().item()


def confusion_matrix(scores_or_predictions: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """``[C, C]`` counts; row = true class, column = predicted class."""
    predictions = _predictions(scores_or_predictions).long()
    index = targets.long() * num_classes + predictions
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def balanced_accuracy(confusion: Tensor) -> float:
    """Mean per-class recall over classes that occur (robust to class imbalance)."""
    support = confusion.sum(dim=1)
    present = support > 0
    return (confusion.diag()[present].float() / support[present]).mean().item()


def macro_f1(confusion: Tensor) -> float:
    """Unweighted mean F1 over classes that occur or are predicted."""
    tp = confusion.diag().float()
    predicted, actual = confusion.sum(dim=0).float(), confusion.sum(dim=1).float()
    seen = (predicted + actual) > 0
    f1 = 2 * tp / (predicted + actual).clamp_min(1)
    return f1[seen].mean().item()
