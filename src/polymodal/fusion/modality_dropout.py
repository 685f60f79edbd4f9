"""Modality dropout: train with whole modalities missing so the model learns to do without.

Each present modality of each sample is dropped with probability ``p`` by masking its row
(as ModDrop, Neverova et al. 2016, and the survey's §5 "robustness to missing modalities"
recommend), never all present modalities of a sample: if every one was drawn, one of
them, chosen uniformly, is kept. In eval mode it is the identity.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from polymodal.errors import ConfigError
from polymodal.tokens import Tokens

__all__ = ["ModalityDropout"]


class ModalityDropout(nn.Module):
    """Mask whole modalities per sample with probability ``p`` during training.

    Args:
        p: drop probability per (sample, modality), in ``[0, 1)``.

    Inputs: modality → :class:`Tokens` ``[B, N_m, D]``.
    Returns: a new dict with the dropped rows' masks set to ``False`` and their embeddings zeroed.
    """

    def __init__(self, p: float = 0.3) -> None:
        super().__init__()
        if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ConfigError("modality_dropout.p", "a probability in [0, 1)", repr(p))
        self.p = float(p)

    def forward(self, inputs: Mapping[str, Tokens], generator: torch.Generator | None = None) -> dict[str, Tokens]:
        if not self.training or self.p == 0.0 or len(inputs) < 2:
            return dict(inputs)
        names = sorted(inputs)
        present = torch.stack([inputs[n].present for n in names], dim=1)  # [B, M]
        draw = torch.rand(present.shape, generator=generator, device=generator.device if generator else None)
        drop = (draw.to(present.device) < self.p) & present
        # Where every present modality was drawn, keep one present modality at random.
        all_gone = present.any(1) & ~(present & ~drop).any(1)
        if bool(all_gone.any()):
            scores = torch.rand(present.shape, generator=generator, device=generator.device if generator else None)
            scores = scores.to(present.device).masked_fill(~present, -1.0)
            keep = torch.zeros_like(drop).scatter_(1, scores.argmax(1, keepdim=True), True)
            drop = drop & ~(keep & all_gone[:, None])
        out = {}
        for j, name in enumerate(names):
            tokens = inputs[name]
            mask = tokens.mask & ~drop[:, j, None]
            out[name] = tokens.replace(mask=mask, embeddings=tokens.embeddings * mask[..., None].to(tokens.embeddings.dtype))
        return out
