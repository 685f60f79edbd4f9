"""Hierarchical one-stream → multi-stream fusion (e.g. a shared trunk with modality-specific tails).

Survey formula (Xu, Zhu & Clifton 2023, §4.2, "hierarchical attention, one-stream to
multi-stream"): ``C(Z(A), Z(B)) ← Tf1(C(Z(A), Z(B)))``, then ``Z(A) ← Tf2(Z(A))`` and
``Z(B) ← Tf3(Z(B))``. The streams mix only in the shared stage; after the split each
modality is refined by its own encoder and no layer mixes them again.
"""

from __future__ import annotations


from torch import nn

from polymodal.fusion.base import (
    FUSIONS,
    Fusion,
    FusionConfig,
    FusionOutput,
    concat_tokens,
    mean_over_present,
    split_tokens,
)
from polymodal.fusion.modality_embedding import ModalityEmbedding
from polymodal.tokens import Tokens

__all__ = ["OneToMultiConfig", "OneToMultiFusion"]


class OneToMultiConfig(FusionConfig):
    # Layers of the shared stream Tf1 over the concatenation.
    shared_depth: int = 1
    # Layers of each modality's own encoder after the split.
    modality_depth: int = 1


@FUSIONS.register("one_to_multi")
class OneToMultiFusion(Fusion):
    """A shared encoder over the concatenation, then split into per-modality encoders.

    Attention cost: ``shared_depth`` layers over ``ΣN_m`` (``(ΣN_m)²``) plus ``modality_depth``
    layers over each ``N_m`` separately (``Σ N_m²``).

    Missing modalities: masked rows give no keys in the shared stage and their stream is
    fully masked afterwards; ``pooled`` averages the present streams, so a sample with only A
    equals a run on A alone.

    Inputs: modality → :class:`Tokens` ``[B, N_m, D]``.
    Returns: :class:`FusionOutput` with ``sequence`` the concatenation of the final streams,
    ``per_modality`` each stream, ``pooled`` the mean of the present streams' masked means;
    attentions under ``"shared"`` and ``"<modality>"``.
    """

    config_class = OneToMultiConfig

    def __init__(self, config: OneToMultiConfig) -> None:
        super().__init__(config)
        self.type_embed = ModalityEmbedding(config.modalities, config.dim)
        self.shared = config.encoder(config.shared_depth)
        self.encoders = nn.ModuleDict({m: config.encoder(config.modality_depth) for m in config.modalities})

    def fuse(self, items: list[tuple[str, Tokens]], output_attentions: bool) -> FusionOutput:
        typed = [(name, self.type_embed(name, tokens)) for name, tokens in items]
        joint, slices = concat_tokens(typed)
        shared = self.shared(joint, output_attentions=output_attentions)
        attentions: dict = {"shared": shared.attentions}
        per_modality: dict[str, Tokens] = {}
        pooled = {}
        for name, part in split_tokens(shared.hidden, shared.mask, slices).items():
            out = self.encoders[name](part, output_attentions=output_attentions)
            attentions[name] = out.attentions
            per_modality[name] = Tokens(out.hidden, out.mask, name)
            pooled[name] = out.pooled
        sequence, _ = concat_tokens(sorted(per_modality.items()))
        present = {name: t.present for name, t in per_modality.items()}
        return FusionOutput(
            sequence=sequence,
            per_modality=per_modality,
            pooled=mean_over_present(pooled, present),
            attentions=attentions if output_attentions else None,
        )
