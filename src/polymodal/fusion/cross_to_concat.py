"""Cross-attention to concatenation: co-attention streams, then one shared stream.

Survey formula (Xu, Zhu & Clifton 2023, §4.2, "cross-attention to concatenation"):
``Z(A) ← MHSA(Q_B, K_A, V_A)``, ``Z(B) ← MHSA(Q_A, K_B, V_B)`` (streams named by their
queries here, as in ``cross_attention``), then
``Z ← Tf(C(Z(A), Z(B)))``. The concatenated stage restores the global context that pure
cross-attention lacks, at the cost of attention over ``ΣN_m`` tokens.
"""

from __future__ import annotations

from typing import Self

from pydantic import model_validator


from polymodal.errors import ConfigError
from polymodal.fusion.base import (
    FUSIONS,
    Fusion,
    FusionConfig,
    FusionOutput,
    concat_tokens,
    pool_sequence,
    split_tokens,
)
from polymodal.fusion.co_attention import CoAttentionStreams
from polymodal.fusion.modality_embedding import ModalityEmbedding
from polymodal.tokens import Tokens

__all__ = ["CrossToConcatConfig", "CrossToConcatFusion"]


class CrossToConcatConfig(FusionConfig):
    # Co-attention layers per stream.
    cross_depth: int = 1
    # Layers of the shared stream over the concatenated streams.
    shared_depth: int = 1
    interleave_self: bool = False

    @model_validator(mode="after")
    def _check_strategy(self) -> Self:
        if len(self.modalities) < 2:
            raise ConfigError(
                "fusion.cross_to_concat.modalities", "at least two modalities (a stream needs another to attend to)",
                repr(self.modalities),
            )
        return self


@FUSIONS.register("cross_to_concat")
class CrossToConcatFusion(Fusion):
    """Co-attention streams whose outputs are concatenated and passed through a shared encoder.

    Attention cost: ``cross_depth`` layers of ``Σ_m N_m · (ΣN − N_m)`` plus ``shared_depth``
    layers of ``(ΣN_m)²``.

    Missing modalities: as in ``cross_attention`` (a stream with no visible other gets a zero
    cross update), then masked rows give no keys in the shared stage.

    Inputs: modality → :class:`Tokens` ``[B, N_m, D]``.
    Returns: :class:`FusionOutput` with the shared ``sequence [B, ΣN_m, D]``, its per-modality
    slices, masked-mean ``pooled``; attentions ``"cross:<m>"`` (``"self:<m>"``) and ``"shared"``.
    """

    config_class = CrossToConcatConfig

    def __init__(self, config: CrossToConcatConfig) -> None:
        super().__init__(config)
        self.streams = CoAttentionStreams(
            config.modalities,
            dim=config.dim,
            num_heads=config.num_heads,
            mlp_hidden_dim=int(config.dim * config.mlp_ratio),
            depth=config.cross_depth,
            dropout=config.dropout,
            interleave_self=config.interleave_self,
        )
        self.type_embed = ModalityEmbedding(config.modalities, config.dim)
        self.shared = config.encoder(config.shared_depth)

    def fuse(self, items: list[tuple[str, Tokens]], output_attentions: bool) -> FusionOutput:
        streams, attentions = self.streams(items, need_weights=output_attentions)
        typed = [(name, self.type_embed(name, t)) for name, t in sorted(streams.items())]
        joint, slices = concat_tokens(typed)
        out = self.shared(joint, output_attentions=output_attentions)
        attentions["shared"] = out.attentions
        sequence = Tokens(out.hidden, out.mask, "fused")
        return FusionOutput(
            sequence=sequence,
            per_modality=split_tokens(out.hidden, out.mask, slices),
            pooled=pool_sequence(sequence),
            attentions=attentions if output_attentions else None,
        )
