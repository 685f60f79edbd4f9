"""Late fusion: independent per-modality encoders whose outputs are combined at the end.

Survey formula (Xu, Zhu & Clifton 2023, §4.2, "late concatenation/combination"):
``Z ← C(Tf1(Z(A)), Tf2(Z(B)))`` with the combination taken over pooled features or, when
heads are given, over predictions. No feature of one modality reaches another before the
combination, so a missing modality is simply left out: the most robust to missing data and
the cheapest in attention, but with no cross-modal interaction inside the encoders.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from polymodal.fusion.base import FUSIONS, Fusion, FusionConfig, FusionOutput
from polymodal.tokens import Tokens

__all__ = ["LateConfig", "LateFusion"]


class LateConfig(FusionConfig):
    # Layers of each modality's own encoder.
    depth: int = 2
    # How outputs combine: "mean" (of present ones), "learned" (softmax weights over
    # modalities, renormalised over present ones) or "poe" (product of experts).
    combine: Literal["mean", "learned", "poe"] = "mean"
    # With num_classes, each modality gets a linear head and predictions are combined
    # (FusionOutput.logits); features are combined either way (FusionOutput.pooled).
    num_classes: int | None = None


@FUSIONS.register("late")
class LateFusion(Fusion):
    """Per-modality encoders (+ heads), combined by mean, learned weights or product of experts.

    Attention cost: ``depth`` layers over each ``N_m`` separately, ``Σ_m N_m²`` per layer —
    linear in the number of modalities, no cross-modal term at all.

    Product of experts: with heads, ``log p(y) ∝ Σ_present log softmax(z_m)`` (Hinton 2002);
    on features, a Gaussian PoE per dimension: each modality predicts a precision
    ``τ_m = softplus(W_m h_m)`` and ``h = Σ τ_m h_m / Σ τ_m`` (as MVAE combines posteriors).

    Missing modalities: every combination runs over the modalities present in each sample,
    so a sample with only A gets exactly A's features and prediction.

    Inputs: modality → :class:`Tokens` ``[B, N_m, D]``.
    Returns: :class:`FusionOutput` with ``sequence`` None, ``per_modality`` each encoder's
    output, ``pooled`` the combined ``[B, D]``, ``logits`` the combined ``[B, C]`` with heads;
    attentions under ``"<modality>"``.
    """

    config_class = LateConfig

    def __init__(self, config: LateConfig) -> None:
        super().__init__(config)
        self.index = {m: i for i, m in enumerate(config.modalities)}
        self.encoders = nn.ModuleDict({m: config.encoder(config.depth) for m in config.modalities})
        self.heads = (
            nn.ModuleDict({m: nn.Linear(config.dim, config.num_classes) for m in config.modalities})
            if config.num_classes
            else None
        )
        if config.combine == "learned":
            self.combine_logits = nn.Parameter(torch.zeros(len(config.modalities)))
        if config.combine == "poe":
            self.precision = nn.ModuleDict({m: nn.Linear(config.dim, config.dim) for m in config.modalities})

    def _weights(self, names: list[str], present: Tensor) -> Tensor:
        """``[B, M]`` mixing weights renormalised over the modalities present per sample."""
        if self.config.combine == "learned":
            logits = self.combine_logits[[self.index[n] for n in names]][None].expand(present.shape)
        else:
            logits = torch.zeros(present.shape, device=present.device)
        w = logits.masked_fill(~present, float("-inf")).softmax(dim=1)
        return torch.nan_to_num(w, nan=0.0)

    def _combine_features(self, names: list[str], feats: Tensor, present: Tensor) -> Tensor:
        # feats [B, M, D], present [B, M]
        if self.config.combine == "poe":
            tau = torch.stack(
                [nn.functional.softplus(self.precision[n](feats[:, j])) + 1e-4 for j, n in enumerate(names)], dim=1
            ) * present[..., None].to(feats.dtype)
            return (tau * feats).sum(1) / tau.sum(1).clamp_min(1e-4)
        return (self._weights(names, present)[..., None] * feats).sum(1)

    def _combine_logits(self, names: list[str], logits: Tensor, present: Tensor) -> Tensor:
        # logits [B, M, C]
        if self.config.combine == "poe":
            logp = logits.log_softmax(-1) * present[..., None].to(logits.dtype)
            return logp.sum(1)  # product of the present experts' distributions, unnormalised in log space
        return (self._weights(names, present)[..., None] * logits).sum(1)

    def fuse(self, items: list[tuple[str, Tokens]], output_attentions: bool) -> FusionOutput:
        names = [n for n, _ in items]
        per_modality: dict[str, Tokens] = {}
        attentions: dict = {}
        feats = []
        for name, tokens in items:
            out = self.encoders[name](tokens, output_attentions=output_attentions)
            per_modality[name] = Tokens(out.hidden, out.mask, name)
            attentions[name] = out.attentions
            feats.append(out.pooled)
        stacked = torch.stack(feats, dim=1)  # [B, M, D]
        present = torch.stack([t.present for _, t in items], dim=1)  # [B, M]
        logits = None
        if self.heads is not None:
            per_logits = torch.stack([self.heads[n](stacked[:, j]) for j, n in enumerate(names)], dim=1)
            logits = self._combine_logits(names, per_logits, present)
        return FusionOutput(
            sequence=None,
            per_modality=per_modality,
            pooled=self._combine_features(names, stacked, present),
            attentions=attentions if output_attentions else None,
            logits=logits,
        )
