"""ViLBERT's co-attention streams, shared by ``cross_attention`` and ``cross_to_concat``.

In one co-attention layer each modality's queries attend to the keys and values of the
*other* modalities only (Lu et al., ViLBERT, NeurIPS 2019, Fig. 2b); with more than two
modalities the context is all the others, concatenated. A layer has no self-attention, so
inside it a token's update depends on its own state and the other streams, never on the
other tokens of its own stream. ``interleave_self`` adds ViLBERT's per-stream self-attention
block (TRM) after each co-attention layer. All streams update simultaneously from the
previous layer's states.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.encoder.block import Block
from polymodal.encoder.init import init_transformer_weights_
from polymodal.tokens import Tokens

__all__ = ["CoAttentionStreams"]


class CoAttentionStreams(nn.Module):
    """``depth`` co-attention layers per modality, each ``Block(self_attention=False, cross_attention=True)``.

    Args:
        modalities: the stream names (sorted).
        dim, num_heads, mlp_hidden_dim, dropout: block shape.
        depth: co-attention layers.
        interleave_self: add a self-attention block per stream after each co-attention layer.

    Inputs: sorted ``(name, Tokens [B, N_m, D])`` pairs.
    Returns: ``(streams, attentions)``: name → Tokens ``[B, N_m, D]`` after a final LayerNorm,
    and ``"cross:<m>"`` → per-layer ``[B, H, N_m, Σ_{k≠m} N_k]`` (+ ``"self:<m>"``) maps.
    """

    def __init__(
        self,
        modalities: tuple[str, ...],
        *,
        dim: int,
        num_heads: int,
        mlp_hidden_dim: int,
        depth: int,
        dropout: float = 0.0,
        interleave_self: bool = False,
    ) -> None:
        super().__init__()
        block = lambda **kw: Block(dim, num_heads, mlp_hidden_dim, dropout=dropout, **kw)  # noqa: E731
        self.cross = nn.ModuleDict(
            {m: nn.ModuleList(block(self_attention=False, cross_attention=True) for _ in range(depth)) for m in modalities}
        )
        self.self_blocks = (
            nn.ModuleDict({m: nn.ModuleList(block() for _ in range(depth)) for m in modalities})
            if interleave_self
            else None
        )
        self.norm = nn.ModuleDict({m: nn.LayerNorm(dim, eps=1e-6) for m in modalities})
        self.depth = depth
        init_transformer_weights_(self)

    @staticmethod
    def _context(states: dict[str, Tensor], masks: dict[str, Tensor], name: str) -> tuple[Tensor, Tensor]:
        others = [n for n in states if n != name]
        if not others:
            # No other modality given: an all-masked context, so cross-attention adds exactly
            # zero (Attention zeroes query rows with no visible key) — as for masked rows.
            x = states[name]
            return x.new_zeros(x.shape[0], 1, x.shape[2]), torch.zeros(x.shape[0], 1, dtype=torch.bool, device=x.device)
        return torch.cat([states[n] for n in others], dim=1), torch.cat([masks[n] for n in others], dim=1)

    def forward(self, items: list[tuple[str, Tokens]], need_weights: bool = False):
        states = {name: t.embeddings for name, t in items}
        masks = {name: t.mask for name, t in items}
        attentions: dict[str, list[Tensor]] = {}
        for layer in range(self.depth):
            new = {}
            for name in states:
                context, context_mask = self._context(states, masks, name)
                x, _, cross_w = self.cross[name][layer](
                    states[name], context=context, context_mask=context_mask, need_weights=need_weights
                )
                attentions.setdefault(f"cross:{name}", []).append(cross_w)
                if self.self_blocks is not None:
                    tokens = dict(items)[name]
                    key_mask = None if bool(tokens.mask.all()) else tokens.mask
                    x, self_w, _ = self.self_blocks[name][layer](
                        x, key_mask, attn_bias=tokens.attention_bias, need_weights=need_weights
                    )
                    attentions.setdefault(f"self:{name}", []).append(self_w)
                new[name] = x
            states = new  # simultaneous update: every stream read the previous layer's states
        streams = {name: Tokens(self.norm[name](x), masks[name], name) for name, x in states.items()}
        return streams, {k: tuple(v) for k, v in attentions.items()}
