"""Classification head: linear probe or MLP on pooled features, single- or multi-label."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.encoder.block import Activation
from polymodal.errors import InputError
from polymodal.heads.base import HEADS, linear_or_mlp

__all__ = ["ClassificationHead"]


@HEADS.register("classification")
class ClassificationHead(Configurable, nn.Module):
    """``[B, D] -> [B, C]`` class logits.

    Args:
        dim: feature width D.
        num_classes: C.
        hidden_dim: None for a linear probe (Meta-Transformer's frozen-encoder setting),
            else the width of a one-hidden-layer MLP.
        multi_label: the classes are independent (sigmoid per class) rather than
            exclusive (softmax); changes :meth:`predict` and the objective to use.
        dropout: dropout before each linear layer.
        threshold: probability above which a multi-label class is predicted.

    Inputs:
        features: ``[B, D]`` pooled features.

    Returns:
        ``[B, C]`` logits.
    """

    def __init__(
        self,
        dim: int,
        num_classes: int,
        *,
        hidden_dim: int | None = None,
        multi_label: bool = False,
        dropout: float = 0.0,
        activation: Activation = "gelu",
        threshold: float = 0.5,
    ) -> None:
        super().__init__()
        self.net = linear_or_mlp(dim, num_classes, hidden_dim, activation=activation, dropout=dropout)
        self.dim = dim
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.threshold = threshold

    def forward(self, features: Tensor) -> Tensor:
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise InputError("features", f"pooled features [B, {self.dim}]", features)
        return self.net(features)

    @torch.no_grad()
    def predict(self, features: Tensor) -> Tensor:
        """``[B]`` class indices, or a ``[B, C]`` bool matrix when multi-label."""
        logits = self.forward(features)
        if self.multi_label:
            return logits.sigmoid() > self.threshold
        return logits.argmax(dim=-1)
