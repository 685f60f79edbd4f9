"""The modality-agnostic transformer encoder ``g`` of Meta-Transformer's ``h ∘ g ∘ f``.

It takes :class:`~polymodal.tokens.Tokens` from any tokenizer, optionally prepends a CLS
token and adds 1-D positions, runs a stack of :class:`~polymodal.encoder.block.Block`
and pools. Modality-specific positions (2-D image grids, space-time, point coordinates)
belong to the tokenizers; the encoder's own positions are for plain sequences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from pydantic import model_validator

from polymodal.configurable import Config, validate_config
from polymodal.encoder.block import Activation, Block
from polymodal.encoder.init import init_transformer_weights_
from polymodal.encoder.positions import LearnedPositions, SinusoidalPositions
from polymodal.errors import ConfigError, InputError
from polymodal.tokens import Tokens, masked_mean

__all__ = ["EncoderConfig", "EncoderOutput", "TransformerEncoder", "masked_mean"]


class EncoderConfig(Config):
    """Shape and behaviour of :class:`TransformerEncoder` (defaults: ViT-B/16's encoder).

    A typed, frozen config: ``encoder.config`` (also ``encoder.config()``, like every part);
    ``TransformerEncoder.from_config(config)`` rebuilds the encoder.
    """

    field_prefix: ClassVar[str] = "encoder"

    dim: int = 768
    depth: int = 12
    num_heads: int = 12
    # MLP hidden width; None means mlp_ratio * dim.
    mlp_hidden_dim: int | None = None
    mlp_ratio: float = 4.0
    activation: Activation = "gelu"
    # Pre-norm (True) trains stably without warm-up tricks; BERT-family weights are post-norm.
    norm_first: bool = True
    qkv_bias: bool = True
    dropout: float = 0.0
    attn_dropout: float = 0.0
    layer_norm_eps: float = 1e-6
    # A learned [CLS] token prepended to every sequence (ViT, CLIP vision).
    cls_token: bool = True
    # Positions the encoder adds itself; "none" when the tokenizer already added them.
    positions: Literal["none", "learned", "sinusoidal"] = "none"
    max_positions: int = 512
    # Longer inputs than max_positions resample the learned table; False raises InputError instead.
    interpolate_positions: bool = True
    # LayerNorm on the input sequence after the CLS token (CLIP vision's pre_layrnorm).
    input_norm: bool = False
    # LayerNorm after the last block; pre-norm stacks need it, post-norm ones do not.
    final_norm: bool = True
    # How ``pooled`` is formed: the CLS token, the masked mean, or the last real token (CLIP text's EOS).
    pool: Literal["cls", "mean", "last"] = "cls"

    @model_validator(mode="after")
    def _check_shape(self) -> EncoderConfig:
        for name in ("dim", "depth", "num_heads", "max_positions"):
            value = getattr(self, name)
            if value <= 0:
                raise ConfigError(f"encoder.{name}", "a positive integer", repr(value))
        if self.dim % self.num_heads != 0:
            raise ConfigError("encoder.num_heads", f"a divisor of dim={self.dim}", repr(self.num_heads))
        if self.pool == "cls" and not self.cls_token:
            raise ConfigError("encoder.pool", "'mean' or 'last' when cls_token is False", "'cls'")
        return self

    @property
    def hidden_dim(self) -> int:
        return self.mlp_hidden_dim or int(self.dim * self.mlp_ratio)


@dataclass
class EncoderOutput:
    """What :class:`TransformerEncoder` returns.

    Attributes:
        hidden: ``[B, N', D]`` final token states (N' = N + 1 with a CLS token), after the final norm.
        pooled: ``[B, D]`` pooled representation (CLS, masked mean or last real token).
        mask: ``[B, N']`` bool mask of ``hidden`` (the CLS token is real in present samples).
        hidden_states: with ``output_hidden_states``, the input to the first block and every
            block's output (``depth + 1`` tensors ``[B, N', D]``, before the final norm), as
            Hugging Face returns them.
        attentions: with ``output_attentions``, each block's ``[B, H, N', N']`` probabilities.
    """

    hidden: Tensor
    pooled: Tensor
    mask: Tensor
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None
    extras: dict = field(default_factory=dict)

    def tokens(self, modality: str) -> Tokens:
        return Tokens(self.hidden, self.mask, modality)



class TransformerEncoder(nn.Module):
    """A stack of transformer blocks over Tokens, with CLS, positions and pooling.

    Args:
        config: an :class:`EncoderConfig`.

    Inputs:
        tokens: :class:`Tokens` ``[B, N, D]`` with mask ``[B, N]`` and optional attention bias.
        causal: causal self-attention (a token sees only earlier tokens and the CLS token).
        output_hidden_states / output_attentions: also return every layer's states / maps.

    Returns:
        :class:`EncoderOutput`.
    """

    def __init__(self, config: EncoderConfig | None = None, **overrides) -> None:
        super().__init__()
        if config is None:
            config = EncoderConfig(**overrides)
        elif overrides:
            config = EncoderConfig(**{**config.model_dump(), **overrides})
        self.config = c = config  # the typed config: encoder.config.dim, and encoder.config()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.dim)) if c.cls_token else None
        if c.positions == "learned":
            self.pos_embed = LearnedPositions(c.max_positions, c.dim, interpolate=c.interpolate_positions)
        elif c.positions == "sinusoidal":
            self.pos_embed = SinusoidalPositions(c.dim)
        else:
            self.pos_embed = None
        self.norm_pre = nn.LayerNorm(c.dim, eps=c.layer_norm_eps) if c.input_norm else None
        self.blocks = nn.ModuleList(
            Block(
                c.dim,
                c.num_heads,
                c.hidden_dim,
                activation=c.activation,
                norm_first=c.norm_first,
                qkv_bias=c.qkv_bias,
                dropout=c.dropout,
                attn_dropout=c.attn_dropout,
                layer_norm_eps=c.layer_norm_eps,
            )
            for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.dim, eps=c.layer_norm_eps) if c.final_norm else None
        self.frozen = False
        self.reset_parameters()

    # --- parameters ------------------------------------------------------------------
    def reset_parameters(self) -> None:
        """Truncated-normal(0.02) linear weights and zero biases, as ViT and BERT initialise."""
        init_transformer_weights_(self)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)

    def no_weight_decay(self) -> set[str]:
        """Parameter names that an optimiser should not decay (CLS token, positions)."""
        return {"cls_token", "pos_embed.pos_embed"}

    @classmethod
    def from_config(cls, config: EncoderConfig | Mapping[str, Any] | None = None) -> TransformerEncoder:
        """An encoder built from its config or a mapping of its fields."""
        return cls(validate_config(EncoderConfig, config, "encoder"))

    def freeze(self, frozen: bool = True) -> TransformerEncoder:
        """Freeze (or unfreeze) every parameter, as Meta-Transformer uses its shared encoder.

        A frozen encoder stays in eval mode (no dropout) even inside a model in train mode.
        """
        self.frozen = frozen
        for p in self.parameters():
            p.requires_grad_(not frozen)
        if frozen:
            self.eval()
        return self

    def train(self, mode: bool = True) -> TransformerEncoder:
        return super().train(mode and not self.frozen)

    @property
    def dim(self) -> int:
        return self.config.dim

    # --- forward -----------------------------------------------------------------------
    def prepare(self, tokens: Tokens) -> tuple[Tensor, Tensor, Tensor | None]:
        """Embeddings, mask and bias after the CLS token, positions and input norm."""
        x, mask, bias = tokens.embeddings, tokens.mask, tokens.attention_bias
        if x.shape[-1] != self.config.dim:
            raise InputError("tokens.embeddings", f"width D={self.config.dim}", f"D={x.shape[-1]}")
        if self.pos_embed is not None:
            x = x + self.pos_embed(x.shape[1]).to(device=x.device, dtype=x.dtype)
        if self.cls_token is not None:
            b = x.shape[0]
            x = torch.cat([self.cls_token.expand(b, -1, -1).to(x.dtype), x], dim=1)
            # The CLS token is real in every sample that has any real token; a sample whose
            # modality is missing stays fully masked so it contributes nothing.
            mask = torch.cat([tokens.present[:, None], mask], dim=1)
            if bias is not None:
                bias = torch.nn.functional.pad(bias, (1, 0, 1, 0))
        if self.norm_pre is not None:
            x = self.norm_pre(x)
        return x, mask, bias

    def pool(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """``[B, N', D] -> [B, D]`` by the configured rule; fully masked rows give zeros."""
        present = mask.any(dim=1, keepdim=True).to(hidden.dtype)
        if self.config.pool == "cls":
            return hidden[:, 0] * present
        body, body_mask = (hidden[:, 1:], mask[:, 1:]) if self.cls_token is not None else (hidden, mask)
        if self.config.pool == "mean":
            return masked_mean(body, body_mask)
        last = (body_mask.long().cumsum(dim=1).argmax(dim=1))  # index of the last real token
        return body[torch.arange(body.shape[0], device=body.device), last] * present

    def forward(
        self,
        tokens: Tokens,
        *,
        causal: bool = False,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> EncoderOutput:
        if not isinstance(tokens, Tokens):
            raise InputError("tokens", "a polymodal.Tokens", type(tokens).__name__)
        x, mask, bias = self.prepare(tokens)
        # Without padding the mask is dropped: an all-True mask only slows SDPA down.
        if tokens.no_padding:
            key_mask = None
        elif torch.compiler.is_compiling():
            key_mask = mask  # reading it here would split the compiled graph
        else:
            key_mask = None if bool(mask.all()) else mask
        states = [x] if output_hidden_states else None
        maps = [] if output_attentions else None
        for block in self.blocks:
            x, weights, _ = block(x, key_mask, attn_bias=bias, causal=causal, need_weights=output_attentions)
            if states is not None:
                states.append(x)
            if maps is not None:
                maps.append(weights)
        hidden = self.norm(x) if self.norm is not None else x
        return EncoderOutput(
            hidden=hidden,
            pooled=self.pool(hidden, mask),
            mask=mask,
            hidden_states=tuple(states) if states is not None else None,
            attentions=tuple(maps) if maps is not None else None,
        )
