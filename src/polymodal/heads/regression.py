"""Regression head: linear or MLP on pooled features to ``K`` real targets."""

from __future__ import annotations

from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.encoder.block import Activation
from polymodal.errors import InputError
from polymodal.heads.base import HEADS, linear_or_mlp

__all__ = ["RegressionHead"]


@HEADS.register("regression")
class RegressionHead(Configurable, nn.Module):
    """``[B, D] -> [B, K]`` real values (``K = num_outputs``).

    Args:
        dim: feature width D.
        num_outputs: K targets per sample.
        hidden_dim: None for linear, else an MLP's hidden width.
        dropout: dropout before each linear layer.
    """

    def __init__(
        self,
        dim: int,
        num_outputs: int = 1,
        *,
        hidden_dim: int | None = None,
        dropout: float = 0.0,
        activation: Activation = "gelu",
    ) -> None:
        super().__init__()
        self.net = linear_or_mlp(dim, num_outputs, hidden_dim, activation=activation, dropout=dropout)
        self.dim = dim
        self.num_outputs = num_outputs

    def forward(self, features: Tensor) -> Tensor:
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise InputError("features", f"pooled features [B, {self.dim}]", features)
        return self.net(features)
