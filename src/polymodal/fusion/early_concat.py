"""Early concatenation: one stream over all modalities' tokens (VisualBERT, ViLT, VATT-shared).

Survey formula (Xu, Zhu & Clifton 2023, §4.2, "early concatenation"): ``Z ← Tf(C(Z(A), Z(B)))``, where ``C`` concatenates along
tokens. Every token may attend to every token of every modality from the first layer on:
global multimodal context at the price of attention over ``N = ΣN_m`` tokens.
"""

from __future__ import annotations


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
from polymodal.encoder.transformer import TransformerEncoder
from polymodal.tokens import Tokens

__all__ = ["EarlyConcatConfig", "EarlyConcatFusion"]


class EarlyConcatConfig(FusionConfig):
    # Layers of the single shared stream.
    depth: int = 2


@FUSIONS.register("early_concat")
class EarlyConcatFusion(Fusion):
    """Single-stream fusion over the concatenated token sequences, with modality-type embeddings.

    Attention cost: ``depth`` layers of self-attention over ``N = ΣN_m`` tokens, i.e.
    ``O(depth · (ΣN_m)² · D)``; for 196 image + 32 text tokens that is 228² per layer.

    Missing modalities: an absent key simply contributes no tokens; masked rows are excluded
    from every key set, so the present modality's tokens equal those of a run on it alone.

    Inputs: modality → :class:`Tokens` ``[B, N_m, D]``.
    Returns: :class:`FusionOutput` with ``sequence [B, ΣN_m, D]``, ``per_modality`` its slices,
    ``pooled`` the masked mean of the sequence, attentions under ``"fused"``.
    """

    config_class = EarlyConcatConfig
    accepts_encoder = True

    def __init__(self, config: EarlyConcatConfig, encoder: TransformerEncoder | None = None) -> None:
        super().__init__(config)
        self.type_embed = ModalityEmbedding(config.modalities, config.dim)
        self.encoder = config.encoder(config.depth, encoder)

    def fuse(self, items: list[tuple[str, Tokens]], output_attentions: bool) -> FusionOutput:
        typed = [(name, self.type_embed(name, tokens)) for name, tokens in items]
        joint, slices = concat_tokens(typed)  # [B, ΣN_m, D]
        out = self.encoder(joint, output_attentions=output_attentions)
        sequence = Tokens(out.hidden, out.mask, "fused")
        return FusionOutput(
            sequence=sequence,
            per_modality=split_tokens(out.hidden, out.mask, slices),
            pooled=pool_sequence(sequence),
            attentions={"fused": out.attentions} if output_attentions else None,
        )
