"""Learned modality-type embeddings: BERT's segment embeddings generalised to modalities.

Once sequences are concatenated, attention itself is permutation-invariant and blind to
where a token came from; adding one learned vector per modality (VisualBERT, UNITER,
ViLT's ``token_type_embeddings``) tells the shared encoder which modality each token is.
"""

from __future__ import annotations

import torch
from torch import nn

from polymodal.tokens import Tokens

__all__ = ["ModalityEmbedding"]


class ModalityEmbedding(nn.Module):
    """One learned ``[D]`` vector per modality, added to every token of that modality.

    Args:
        modalities: the names, in a fixed (sorted) order.
        dim: token width D.

    Inputs: ``name`` and its :class:`Tokens` ``[B, N, D]``. Returns Tokens ``[B, N, D]``.
    """

    def __init__(self, modalities: tuple[str, ...], dim: int) -> None:
        super().__init__()
        self.index = {name: i for i, name in enumerate(modalities)}
        self.weight = nn.Parameter(torch.empty(len(modalities), dim))
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, name: str, tokens: Tokens) -> Tokens:
        # Padding keeps its (irrelevant) value; the mask travels unchanged.
        return tokens.replace(embeddings=tokens.embeddings + self.weight[self.index[name]].to(tokens.embeddings.dtype))
