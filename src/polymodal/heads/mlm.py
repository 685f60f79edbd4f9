"""Masked-language-model head tied to the input embedding matrix (BERT).

Devlin et al., "BERT" (2019): the final hidden states go through a dense layer, GELU and
LayerNorm, then a decoder whose weight *is* the input token embedding matrix (tying saves
``V × D`` parameters and makes the output and input spaces agree), plus a per-token bias.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.encoder.block import Activation, make_activation
from polymodal.errors import InputError
from polymodal.heads.base import HEADS

__all__ = ["MLMHead"]


@HEADS.register("mlm")
class MLMHead(Configurable, nn.Module):
    """``[B, N, D] -> [B, N, V]`` token logits, decoder tied to ``embedding.weight``.

    Args:
        embedding: the input ``nn.Embedding(V, E)`` whose weight is shared.
        dim: hidden width D of the encoder (projected to E by the transform).
        activation, layer_norm_eps: the transform's (BERT: GELU, 1e-12).
    """

    def __init__(
        self, embedding: nn.Embedding, dim: int, *, activation: Activation = "gelu", layer_norm_eps: float = 1e-12
    ) -> None:
        super().__init__()
        if not isinstance(embedding, nn.Embedding):
            raise InputError("embedding", "the input nn.Embedding to tie to", type(embedding).__name__)
        vocab, width = embedding.weight.shape
        self.dense = nn.Linear(dim, width)
        self.act = make_activation(activation)
        self.norm = nn.LayerNorm(width, eps=layer_norm_eps)
        # Kept as a plain attribute, not a submodule, so its weight is owned (and saved) once.
        self._embedding = [embedding]
        self.bias = nn.Parameter(torch.zeros(vocab))

    @property
    def weight(self) -> Tensor:
        """The tied ``[V, E]`` embedding matrix."""
        return self._embedding[0].weight

    def forward(self, hidden: Tensor) -> Tensor:
        if hidden.shape[-1] != self.dense.in_features:
            raise InputError("hidden", f"[B, N, {self.dense.in_features}] hidden states", hidden)
        x = self.norm(self.act(self.dense(hidden)))
        return x @ self.weight.T + self.bias  # [B, N, V]
