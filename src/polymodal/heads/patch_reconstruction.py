"""Patch-reconstruction head: per-token prediction of a patch's values (MAE's decoder output).

He et al., "Masked Autoencoders Are Scalable Vision Learners" (MAE, 2022) end the decoder
with a linear layer to ``p·p·C`` values per patch. Any patch-tokenised modality
(spectrogram patches, time-series windows, point groups flattened) fits the same head.
"""

from __future__ import annotations

from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.encoder.block import Activation
from polymodal.errors import InputError
from polymodal.heads.base import HEADS, linear_or_mlp

__all__ = ["PatchReconstructionHead"]


@HEADS.register("patch_reconstruction")
class PatchReconstructionHead(Configurable, nn.Module):
    """``[B, N, D] -> [B, N, P]`` patch values (P = values per patch).

    Args:
        dim: token width D.
        patch_dim: P, e.g. ``patch_size² × channels`` for images.
        hidden_dim: None for MAE's linear layer, else an MLP's hidden width.
    """

    def __init__(
        self, dim: int, patch_dim: int, *, hidden_dim: int | None = None, activation: Activation = "gelu"
    ) -> None:
        super().__init__()
        self.net = linear_or_mlp(dim, patch_dim, hidden_dim, activation=activation)
        self.dim = dim
        self.patch_dim = patch_dim

    def forward(self, hidden: Tensor) -> Tensor:
        if hidden.ndim != 3 or hidden.shape[-1] != self.dim:
            raise InputError("hidden", f"token states [B, N, {self.dim}]", hidden)
        return self.net(hidden)
