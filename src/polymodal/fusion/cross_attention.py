"""Cross-attention (co-attention) fusion: ViLBERT's two streams exchanging keys and values.

Survey formula (Xu, Zhu & Clifton 2023, §4.2, "cross-attention"):
``Z(A) ← MHSA(Q_B, K_A, V_A)``, ``Z(B) ← MHSA(Q_A, K_B, V_B)``. We name each output stream by
its queries, as ViLBERT does: stream A is ``MHSA(Q_A, K_B, V_B)`` (A's length, A's residual)
— each stream's queries attend to the other stream. Cheap (no ``(ΣN_m)²`` term) and each modality keeps its own stream, but
within a cross layer a stream has no self-context; the survey notes the lack of global
context as its weakness, which ``cross_to_concat`` addresses.
"""

from __future__ import annotations

from typing import Self

from pydantic import model_validator


from polymodal.errors import ConfigError
from polymodal.fusion.base import FUSIONS, Fusion, FusionConfig, FusionOutput, concat_tokens, mean_over_present
from polymodal.fusion.co_attention import CoAttentionStreams
from polymodal.encoder.transformer import masked_mean
from polymodal.tokens import Tokens

__all__ = ["CrossAttentionConfig", "CrossAttentionFusion"]


class CrossAttentionConfig(FusionConfig):
    # Co-attention layers per stream.
    depth: int = 2
    # ViLBERT's per-stream self-attention block after each co-attention layer (off: pure cross).
    interleave_self: bool = False

    @model_validator(mode="after")
    def _check_strategy(self) -> Self:
        if len(self.modalities) < 2:
            raise ConfigError(
                "fusion.cross_attention.modalities", "at least two modalities (a stream needs another to attend to)",
                repr(self.modalities),
            )
        return self


@FUSIONS.register("cross_attention")
class CrossAttentionFusion(Fusion):
    """Co-attention streams: each modality's queries attend to all the other modalities.

    Attention cost per layer: ``Σ_m N_m · (ΣN − N_m)``; for two modalities ``2 · N_A · N_B``
    (196 × 32 × 2 for image + text), plus ``Σ N_m²`` with ``interleave_self``.

    Missing modalities: an absent key or a masked row leaves the other streams with no
    visible key, so their cross-attention adds exactly zero; a stream's result then depends
    on that modality alone, the same whether the other is absent or masked.

    Inputs: modality → :class:`Tokens` ``[B, N_m, D]`` (at least two configured).
    Returns: :class:`FusionOutput` with ``sequence`` the concatenated streams, ``per_modality``
    each stream, ``pooled`` the mean of the present streams' masked means; attentions under
    ``"cross:<modality>"`` (and ``"self:<modality>"``).
    """

    config_class = CrossAttentionConfig

    def __init__(self, config: CrossAttentionConfig) -> None:
        super().__init__(config)
        self.streams = CoAttentionStreams(
            config.modalities,
            dim=config.dim,
            num_heads=config.num_heads,
            mlp_hidden_dim=int(config.dim * config.mlp_ratio),
            depth=config.depth,
            dropout=config.dropout,
            interleave_self=config.interleave_self,
        )

    def fuse(self, items: list[tuple[str, Tokens]], output_attentions: bool) -> FusionOutput:
        streams, attentions = self.streams(items, need_weights=output_attentions)
        pooled = {n: masked_mean(t.embeddings, t.mask) for n, t in streams.items()}
        sequence, _ = concat_tokens(sorted(streams.items()))
        return FusionOutput(
            sequence=sequence,
            per_modality=streams,
            pooled=mean_over_present(pooled, {n: t.present for n, t in streams.items()}),
            attentions=attentions if output_attentions else None,
        )
