"""Hierarchical multi-stream → one-stream fusion (e.g. InterBERT, MAG-style two-stage models).

Survey formula (Xu, Zhu & Clifton 2023, §4.2, "hierarchical attention, multi-stream to
one-stream"): ``Z ← Tf3(C(Tf1(Z(A)), Tf2(Z(B))))``. Each modality is first encoded on its own
(no cross-modal mixing), then the results are concatenated into one shared stream.
"""

from __future__ import annotations


from torch import nn

from polymodal.fusion.base import (
    FUSIONS,
    Fusion,
    FusionConfig,
    FusionOutput,
    concat_tokens,
    pool_sequence,
    split_tokens,
)
from polymodal.fusion.modality_embedding import ModalityEmbedding
from polymodal.tokens import Tokens

__all__ = ["MultiToOneConfig", "MultiToOneFusion"]


class MultiToOneConfig(FusionConfig):
    # Layers of each modality's own encoder Tf1, Tf2, ... (no cross-modal attention).
    modality_depth: int = 1
    # Layers of the shared stream Tf3 over the concatenation.
    shared_depth: int = 1


@FUSIONS.register("multi_to_one")
class MultiToOneFusion(Fusion):
    """Per-modality encoders, then a shared encoder over their concatenation.

    Attention cost: ``modality_depth`` layers over each ``N_m`` separately (``Σ N_m²``) plus
    ``shared_depth`` layers over ``ΣN_m`` (``(ΣN_m)²``).

    Missing modalities: an absent modality's encoder is skipped; masked rows contribute no
    keys in the shared stream, so the present modality's result equals a run on it alone.

    Inputs: modality → :class:`Tokens` ``[B, N_m, D]``.
    Returns: :class:`FusionOutput` with the shared stream's ``sequence [B, ΣN_m, D]``, its
    per-modality slices, masked-mean ``pooled``; attentions under ``"<modality>"`` and ``"shared"``.
    """

    config_class = MultiToOneConfig

    def __init__(self, config: MultiToOneConfig) -> None:
        super().__init__(config)
        self.encoders = nn.ModuleDict({m: config.encoder(config.modality_depth) for m in config.modalities})
        self.type_embed = ModalityEmbedding(config.modalities, config.dim)
        self.shared = config.encoder(config.shared_depth)

    def fuse(self, items: list[tuple[str, Tokens]], output_attentions: bool) -> FusionOutput:
        attentions: dict = {}
        encoded = []
        for name, tokens in items:
            out = self.encoders[name](tokens, output_attentions=output_attentions)
            attentions[name] = out.attentions
            encoded.append((name, self.type_embed(name, Tokens(out.hidden, out.mask, name))))
        joint, slices = concat_tokens(encoded)
        out = self.shared(joint, output_attentions=output_attentions)
        attentions["shared"] = out.attentions
        sequence = Tokens(out.hidden, out.mask, "fused")
        return FusionOutput(
            sequence=sequence,
            per_modality=split_tokens(out.hidden, out.mask, slices),
            pooled=pool_sequence(sequence),
            attentions=attentions if output_attentions else None,
        )
