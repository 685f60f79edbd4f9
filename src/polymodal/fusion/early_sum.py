"""Early summation: token-wise weighted sum of the modalities, then one stream.

Survey formula (Xu, Zhu & Clifton 2023, §4.2, "early summation"): ``Z ← Tf(α·Z(A) ⊕ β·Z(B))``,
``⊕`` the element-wise sum (as VideoBERT/ViLT add position and segment embeddings). The
cheapest early fusion: the sequence is only as long as the longest modality.
"""

from __future__ import annotations

import math
from typing import Literal, Self

import torch
from pydantic import model_validator
from torch import nn

from polymodal.errors import ConfigError, InputError
from polymodal.fusion.base import FUSIONS, Fusion, FusionConfig, FusionOutput, pool_sequence
from polymodal.fusion.resample import resample_to
from polymodal.encoder.transformer import TransformerEncoder
from polymodal.tokens import Tokens

__all__ = ["EarlySumConfig", "EarlySumFusion"]


class EarlySumConfig(FusionConfig):
    # Layers of the stream after the sum.
    depth: int = 2
    # "fixed": the weights below stay as given; "learnable": they are trained (kept positive).
    weights: Literal["fixed", "learnable"] = "fixed"
    # Initial α, β, ... per modality in sorted-name order; None = equal weights.
    init_weights: tuple[float, ...] | None = None
    # "interpolate": resample real tokens to the longest (see fusion/resample.py);
    # "require_equal": the modalities' real lengths must already agree per sample.
    align: Literal["interpolate", "require_equal"] = "interpolate"

    @model_validator(mode="after")
    def _check_strategy(self) -> Self:
        w = self.init_weights
        if w is not None:
            if len(w) != len(self.modalities) or any(not (isinstance(v, (int, float)) and v > 0) for v in w):
                raise ConfigError(
                    "fusion.early_sum.init_weights",
                    f"{len(self.modalities)} positive numbers (one per modality, sorted by name)",
                    repr(w),
                )
        return self


@FUSIONS.register("early_sum")
class EarlySumFusion(Fusion):
    """Weighted token-wise sum of the modalities, then a transformer stream.

    Attention cost: ``depth`` layers over ``N = max_m N_m`` tokens, ``O(depth · max_m N_m² · D)``:
    for 196 image + 32 text tokens, 196² per layer (vs 228² for concatenation).

    Alignment: sequences whose real lengths agree are summed position by position; others
    are linearly interpolated along tokens to the longest (rule in ``fusion/resample.py``).
    The output mask marks ``L_b`` real tokens per sample, i.e. a token is real if it is real
    in any present modality.

    Missing modalities: weights are renormalised over the modalities present in each sample
    (``α_m / Σ_present α``), so a sample with only A is exactly ``Tf(Z(A))``.

    Inputs: modality → :class:`Tokens` ``[B, N_m, D]``.
    Returns: :class:`FusionOutput` with ``sequence [B, max L_b, D]``; ``per_modality`` is empty
    (the sum leaves no per-modality tokens); attentions under ``"fused"``.
    """

    config_class = EarlySumConfig
    accepts_encoder = True

    def __init__(self, config: EarlySumConfig, encoder: TransformerEncoder | None = None) -> None:
        super().__init__(config)
        init = config.init_weights or (1.0,) * len(config.modalities)
        # Stored as logs so that learnable weights stay positive without clamping.
        log_w = torch.tensor([math.log(v) for v in init])
        if config.weights == "learnable":
            self.log_weights = nn.Parameter(log_w)
        else:
            self.register_buffer("log_weights", log_w)
        self.index = {name: i for i, name in enumerate(config.modalities)}
        self.encoder = config.encoder(config.depth, encoder)

    def mixing_weights(self, items: list[tuple[str, Tokens]]) -> torch.Tensor:
        """``[B, M]`` weights renormalised over the modalities present in each sample."""
        present = torch.stack([t.present for _, t in items], dim=1)  # [B, M]
        logits = self.log_weights[[self.index[n] for n, _ in items]].to(items[0][1].embeddings.dtype)
        logits = logits[None].expand(present.shape).masked_fill(~present, float("-inf"))
        w = logits.softmax(dim=1)  # softmax of log α = α / Σ α over the present ones
        return torch.nan_to_num(w, nan=0.0)  # a sample with no modality: all weights 0

    def fuse(self, items: list[tuple[str, Tokens]], output_attentions: bool) -> FusionOutput:
        lengths = torch.stack([t.lengths for _, t in items], dim=1)  # [B, M]
        if self.config.align == "require_equal":
            present = lengths > 0
            ref = lengths.max(dim=1, keepdim=True).values
            if bool((present & (lengths != ref)).any()):
                raise InputError(
                    "inputs", "equal real lengths per sample (align='require_equal')", lengths.tolist(),
                    hint="use align='interpolate' to resample to the longest",
                )
        target = lengths.max(dim=1).values  # [B] L_b
        length = max(int(target.max()), 1)
        weights = self.mixing_weights(items)  # [B, M]
        total = 0.0
        for j, (_, tokens) in enumerate(items):
            total = total + weights[:, j, None, None] * resample_to(tokens, target, length)
        mask = torch.arange(length, device=target.device)[None, :] < target[:, None]  # [B, L]
        out = self.encoder(Tokens(total, mask, "fused"), output_attentions=output_attentions)
        sequence = Tokens(out.hidden, out.mask, "fused")
        return FusionOutput(
            sequence=sequence,
            per_modality={},
            pooled=pool_sequence(sequence),
            attentions={"fused": out.attentions} if output_attentions else None,
        )
