"""A transformer caption decoder that cross-attends to an encoder's Tokens.

The decoder of Vaswani et al. (2017) in its pre-norm form (as GPT-2 and CoCa's text
decoder): each layer is causal self-attention → cross-attention to the context → MLP,
each residual. Tokens get a learned token embedding plus a learned position embedding;
the output projection is the token embedding matrix itself (weight tying, Press & Wolf
2017), so the vocabulary costs ``V × D`` parameters once. Trained with teacher forcing
(:func:`~polymodal.objectives.captioning.teacher_forcing`); generation with cached keys
and values lives in :mod:`polymodal.models.generation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import model_validator
from torch import Tensor, nn

from polymodal._files import read_json, write_json
from polymodal.configurable import Config, validate_config
from polymodal.models.base import MODELS, PretrainedModel
from polymodal.encoder.block import Activation, Block
from polymodal.encoder.init import init_transformer_weights_
from polymodal.encoder.positions import LearnedPositions
from polymodal.errors import ConfigError, InputError
from polymodal.models.generation import DecoderCaches, GenerationConfig, GenerationOutput, generate
from polymodal.models.vocabulary import WordVocabulary
from polymodal.objectives.base import ObjectiveOutput
from polymodal.objectives.captioning import CaptioningLoss, teacher_forcing
from polymodal.tokens import Tokens

__all__ = ["CaptionerConfig", "Captioner", "CaptionerOutput", "VOCABULARY_FILE"]

VOCABULARY_FILE = "vocabulary.json"


class CaptionerConfig(Config):
    """Shape of :class:`Captioner` (defaults: a 6-layer, 512-wide decoder); the model's config."""

    field_prefix: ClassVar[str] = "captioner"

    vocab_size: int
    dim: int = 512
    depth: int = 6
    num_heads: int = 8
    mlp_ratio: float = 4.0
    activation: Activation = "gelu"
    # Width of the encoder's tokens; None = dim.
    context_dim: int | None = None
    # Learned positions cover <bos> plus this many generated tokens.
    max_length: int = 128
    dropout: float = 0.0
    # Spread some probability mass over the vocabulary during training (0 = off).
    label_smoothing: float = 0.0
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    @model_validator(mode="after")
    def _check_shape(self) -> CaptionerConfig:
        for name in ("vocab_size", "dim", "depth", "num_heads", "max_length"):
            value = getattr(self, name)
            if value <= 0:
                raise ConfigError(f"captioner.{name}", "a positive integer", repr(value))
        if self.dim % self.num_heads:
            raise ConfigError("captioner.num_heads", f"a divisor of dim={self.dim}", repr(self.num_heads))
        return self


@dataclass
class CaptionerOutput:
    """Teacher-forced logits ``[B, T-1, V]`` and, when captions were given, the loss output."""

    logits: Tensor
    objective: ObjectiveOutput | None = None

    @property
    def loss(self) -> Tensor | None:
        return None if self.objective is None else self.objective.loss


@MODELS.register("captioner")
class Captioner(PretrainedModel):
    """Caption decoder: ``(caption prefix, context Tokens) -> next-token logits``.

    Args:
        config: a :class:`CaptionerConfig`.
        vocabulary: optional :class:`WordVocabulary` (saved with the weights; enables
            :meth:`caption`). Its size must equal ``config.vocab_size``.

    Inputs (``forward``):
        context: :class:`Tokens` ``[B, M, Dc]`` from an encoder, with its mask.
        captions: ``[B, T]`` ids ``<bos> … <eos> <pad>…`` (teacher forcing).

    Returns:
        :class:`CaptionerOutput` with logits ``[B, T-1, V]`` and the captioning loss.
    """

    def __init__(self, config: CaptionerConfig, vocabulary: WordVocabulary | None = None) -> None:
        super().__init__()
        if vocabulary is not None and len(vocabulary) != config.vocab_size:
            raise ConfigError("captioner.vocab_size", f"the vocabulary's size {len(vocabulary)}", config.vocab_size)
        self.config = c = config
        self.vocabulary = vocabulary
        self.token_embed = nn.Embedding(c.vocab_size, c.dim)
        self.pos_embed = LearnedPositions(c.max_length + 1, c.dim, interpolate=False)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            Block(
                c.dim,
                c.num_heads,
                int(c.dim * c.mlp_ratio),
                activation=c.activation,
                dropout=c.dropout,
                layer_norm_eps=1e-5,
                cross_attention=True,
                context_dim=c.context_dim,
            )
            for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.dim, eps=1e-5)
        self.loss_fn = CaptioningLoss(label_smoothing=c.label_smoothing)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init_transformer_weights_(self)
        nn.init.normal_(self.token_embed.weight, std=0.02)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed.pos_embed"}

    # --- saving and loading (polymodal.load) ----------------------------------------------
    # self.config (a CaptionerConfig) is the model's config: captioner.config() returns it.

    @classmethod
    def from_config(cls, config: CaptionerConfig | Mapping[str, Any], directory: Path | None = None) -> Captioner:
        """The decoder; its vocabulary is read from ``directory``'s ``vocabulary.json`` when there."""
        vocabulary = None
        if isinstance(config, Mapping) and "captioner" in config:  # written before 0.3: vocabulary inline
            vocabulary = config.get("vocabulary")
            config = config["captioner"]
        elif directory is not None and (Path(directory) / VOCABULARY_FILE).is_file():
            vocabulary = read_json(Path(directory) / VOCABULARY_FILE)
        c = validate_config(CaptionerConfig, config, "captioner")
        return cls(c, None if vocabulary is None else WordVocabulary.from_dict(vocabulary))

    def save_assets(self, directory: Path) -> None:
        if self.vocabulary is not None:
            write_json(Path(directory) / VOCABULARY_FILE, self.vocabulary.to_dict())

    def decode(
        self, input_ids: Tensor, context: Tokens, caches: DecoderCaches | None = None, *, last_only: bool = False
    ) -> Tensor:
        """Logits ``[B, T, V]`` for ``input_ids [B, T]`` (``[B, 1, V]`` with ``last_only``).

        Without ``caches`` the ids are the whole prefix from ``<bos>``. With caches they
        are the next tokens only: their positions start at the cached length, their keys
        and values are appended, and the context's keys and values are computed once on
        the first call and reused (so a new token costs O(length), not O(length²)).
        ``last_only`` projects only the last position onto the vocabulary, all that
        generation needs.
        """
        if input_ids.ndim != 2:
            raise InputError("input_ids", "a long tensor [B, T]", input_ids)
        start = 0 if caches is None else caches.length
        length = start + input_ids.shape[1]
        if length > self.pos_embed.num_positions:
            raise InputError("caption length", f"at most {self.pos_embed.num_positions} tokens with <bos>", length)
        x = self.token_embed(input_ids) + self.pos_embed(length)[:, start:]
        x = self.drop(x)
        # An all-True mask would only slow SDPA down.
        context_mask = None if bool(context.mask.all()) else context.mask
        # One new token after a cache sees every cached key anyway: no causal mask needed,
        # which lets SDPA take its unmasked kernel.
        causal = caches is None or input_ids.shape[1] > 1
        for i, block in enumerate(self.blocks):
            x, _, _ = block(
                x,
                context=context.embeddings,
                context_mask=context_mask,
                causal=causal,
                cache=None if caches is None else caches.self_attn[i],
                cross_cache=None if caches is None else caches.cross_attn[i],
            )
        if last_only:
            x = x[:, -1:]
        # Tied output projection; F.linear reads the [V, D] matrix in the layout it is stored.
        return F.linear(self.norm(x), self.token_embed.weight)

    def forward(self, context: Tokens, captions: Tensor) -> CaptionerOutput:
        if not isinstance(context, Tokens):
            raise InputError("context", "encoder output as polymodal.Tokens", type(context).__name__)
        if captions.shape[0] != context.batch_size:
            raise InputError("captions", f"[{context.batch_size}, T] ids, one row per context", captions)
        inputs, targets = teacher_forcing(captions, self.config.pad_id)
        logits = self.decode(inputs, context)
        return CaptionerOutput(logits=logits, objective=self.loss_fn(logits, targets))

    @torch.no_grad()
    def generate(
        self,
        context: Tokens,
        config: GenerationConfig | None = None,
        *,
        generator: torch.Generator | None = None,
        **overrides: object,
    ) -> GenerationOutput:
        """Caption ``context`` (greedy, beam or sampling); see :func:`polymodal.models.generation.generate`."""
        return generate(self, context, config, generator=generator, **overrides)

    def caption(self, context: Tokens, config: GenerationConfig | None = None, **overrides: Any) -> list[str]:
        """Generated captions as text (needs the model's ``vocabulary``)."""
        if self.vocabulary is None:
            raise ConfigError("captioner.vocabulary", "a WordVocabulary to decode captions with", None)
        return self.vocabulary.decode_batch(self.generate(context, config, **overrides).tokens)
