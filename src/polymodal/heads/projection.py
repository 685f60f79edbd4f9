"""Projection into a shared embedding space, L2-normalised (CLIP, ImageBind).

CLIP projects each tower's pooled feature linearly (no bias) into the joint space;
SimCLR-style and ImageBind heads may use an MLP. Embeddings are unit vectors so that a
dot product is a cosine similarity.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.encoder.block import Activation
from polymodal.errors import InputError
from polymodal.heads.base import HEADS, linear_or_mlp

__all__ = ["ProjectionHead"]


@HEADS.register("projection")
class ProjectionHead(Configurable, nn.Module):
    """``[B, D] -> [B, E]`` embeddings, unit length when ``normalize``.

    Args:
        dim: input width D.
        embed_dim: shared space width E.
        hidden_dim: None for a linear map, else an MLP's hidden width.
        bias: linear bias (CLIP's projections have none).
        normalize: L2-normalise the output.
    """

    def __init__(
        self,
        dim: int,
        embed_dim: int,
        *,
        hidden_dim: int | None = None,
        bias: bool = False,
        normalize: bool = True,
        dropout: float = 0.0,
        activation: Activation = "gelu",
    ) -> None:
        super().__init__()
        self.net = linear_or_mlp(dim, embed_dim, hidden_dim, activation=activation, dropout=dropout, bias=bias)
        self.dim = dim
        self.embed_dim = embed_dim
        self.normalize = normalize

    def forward(self, features: Tensor) -> Tensor:
        if features.shape[-1] != self.dim:
            raise InputError("features", f"features [..., {self.dim}]", features)
        out = self.net(features)
        return F.normalize(out, dim=-1) if self.normalize else out
