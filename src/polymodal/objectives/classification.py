"""Supervised objectives for the classification and regression heads.

Single-label classification is softmax cross-entropy (optionally label-smoothed);
multi-label is one sigmoid binary cross-entropy per class; regression is mean squared
error. Each returns the usual :class:`ObjectiveOutput`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.errors import InputError
from polymodal.objectives.base import OBJECTIVES, ObjectiveOutput

__all__ = ["ClassificationLoss", "RegressionLoss"]


@OBJECTIVES.register("classification")
class ClassificationLoss(Configurable, nn.Module):
    """Cross-entropy (``multi_label=False``) or per-class BCE (``multi_label=True``).

    Inputs:
        logits: ``[B, C]``; targets: ``[B]`` class indices, or ``[B, C]`` 0/1 when multi-label.

    Returns:
        term ``classification``; metric ``accuracy`` (exact class, or per-label at 0.5).
    """

    def __init__(self, *, multi_label: bool = False, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.multi_label = multi_label
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, targets: Tensor) -> ObjectiveOutput:
        if logits.ndim != 2:
            raise InputError("logits", "[B, C] class logits", logits)
        if self.multi_label:
            if targets.shape != logits.shape:
                raise InputError("targets", f"0/1 labels of shape {list(logits.shape)}", targets)
            loss = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))
            with torch.no_grad():
                accuracy = ((logits > 0) == targets.bool()).float().mean()
        else:
            if targets.shape != logits.shape[:1]:
                raise InputError("targets", f"class indices of shape [{logits.shape[0]}]", targets)
            loss = F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)
            with torch.no_grad():
                accuracy = (logits.argmax(-1) == targets).float().mean()
        return ObjectiveOutput(loss=loss, terms={"classification": loss}, metrics={"accuracy": accuracy})


@OBJECTIVES.register("regression")
class RegressionLoss(Configurable, nn.Module):
    """Mean squared error of ``[B, K]`` predictions; metric ``mae``."""

    def forward(self, predictions: Tensor, targets: Tensor) -> ObjectiveOutput:
        targets = targets.reshape(predictions.shape) if targets.numel() == predictions.numel() else targets
        if targets.shape != predictions.shape:
            raise InputError("targets", f"values of shape {list(predictions.shape)}", targets)
        loss = F.mse_loss(predictions, targets.to(predictions.dtype))
        with torch.no_grad():
            mae = (predictions - targets).abs().mean()
        return ObjectiveOutput(loss=loss, terms={"regression": loss}, metrics={"mae": mae})
