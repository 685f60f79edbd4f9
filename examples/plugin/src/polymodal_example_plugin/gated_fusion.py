"""Gated late fusion: per-modality encoders whose pooled features a learned gate weighs.

Late fusion (Xu, Zhu & Clifton 2023, §4.2) with the combination learned per sample, as
attention-based multimodal pooling does: each present modality's pooled feature ``h_m``
gets a score ``s_m = w·tanh(W h_m) + b_m``; the weights ``α = softmax(s)`` run over the
modalities present in that sample, and ``pooled = Σ_m α_m h_m``. A noisy or missing
modality thus gets little or no weight, sample by sample.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.fusion import Fusion, FusionConfig, FusionOutput
from polymodal.tokens import Tokens

__all__ = ["GatedLateConfig", "GatedLateFusion"]


class GatedLateConfig(FusionConfig):
    """A typed config (pydantic, strict): the shared fusion fields plus these."""

    # Layers of each modality's own encoder.
    depth: int = 1
    # Width of the gate's hidden layer (the ``W`` above).
    gate_dim: int = 32


class GatedLateFusion(Fusion):
    """Per-modality encoders; pooled features mixed by a gate over the present modalities.

    Attention cost: ``depth`` layers over each ``N_m`` separately, ``Σ_m N_m²`` per layer;
    no cross-modal attention.

    Missing modalities: an absent key is left out; a sample whose tokens are all masked
    gets weight 0 for that modality, so its result equals the one without it; a sample
    with no modality gets zeros.

    Inputs: modality → :class:`Tokens` ``[B, N_m, D]``.
    Returns: :class:`FusionOutput` with ``sequence`` None, ``per_modality`` each encoder's
    tokens, ``pooled [B, D]`` the gated mix; attentions under ``"<modality>"``.
    """

    config_class = GatedLateConfig

    def __init__(self, config: GatedLateConfig) -> None:
        super().__init__(config)
        self.encoders = nn.ModuleDict({m: config.encoder(config.depth) for m in config.modalities})
        self.gate = nn.Sequential(nn.Linear(config.dim, config.gate_dim), nn.Tanh(), nn.Linear(config.gate_dim, 1))
        self.gate_bias = nn.Parameter(torch.zeros(len(config.modalities)))
        self.index = {m: i for i, m in enumerate(config.modalities)}

    def gates(self, items: list[tuple[str, Tensor]], present: Tensor) -> Tensor:
        """``[B, M]`` weights of the pooled features ``items`` (name, ``[B, D]``), zero where absent."""
        bias = self.gate_bias[[self.index[name] for name, _ in items]]  # [M]
        scores = torch.cat([self.gate(h) for _, h in items], dim=1) + bias  # [B, M]
        weights = scores.masked_fill(~present, float("-inf")).softmax(dim=1)
        return torch.nan_to_num(weights, nan=0.0)  # a sample with no modality: all -inf → zeros

    def fuse(self, items: list[tuple[str, Tokens]], output_attentions: bool) -> FusionOutput:
        per_modality: dict[str, Tokens] = {}
        attentions: dict[str, tuple[Tensor, ...] | None] = {}
        pooled: list[tuple[str, Tensor]] = []
        for name, tokens in items:
            out = self.encoders[name](tokens, output_attentions=output_attentions)
            per_modality[name] = Tokens(out.hidden, out.mask, name)
            attentions[name] = out.attentions
            pooled.append((name, out.pooled))
        present = torch.stack([tokens.present for _, tokens in items], dim=1)  # [B, M]
        weights = self.gates(pooled, present)
        stacked = torch.stack([h for _, h in pooled], dim=1)  # [B, M, D]
        return FusionOutput(
            sequence=None,
            per_modality=per_modality,
            pooled=(weights[..., None] * stacked).sum(1),
            attentions=attentions if output_attentions else None,
        )
