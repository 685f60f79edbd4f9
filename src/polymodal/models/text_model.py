"""A pretrained text encoder: token ids → :class:`TextTokenizer` → :class:`TransformerEncoder` → pooling.

It holds BERT-family models (all-MiniLM-L6-v2 with mean pooling, BERT with its dense+tanh
pooler) and CLIP's text tower (causal attention, EOS pooling). Its parts are exposed
so that a larger model can use them alone, for example a frozen encoder shared by
every modality, as Meta-Transformer does:

- ``model.text_transform``: strings → :class:`TextBatch` (``None`` if no tokenizer was saved);
- ``model.embeddings``: :class:`TextTokenizer`, ``TextBatch`` → Tokens ``[B, T, D]``;
- ``model.encoder``: :class:`TransformerEncoder`, Tokens → :class:`EncoderOutput`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.configurable import Config, validate_config
from polymodal.models.base import MODELS, PretrainedModel
from polymodal.encoder import EncoderConfig, EncoderOutput, TransformerEncoder, masked_mean
from polymodal.errors import CheckpointError, ConfigError, InputError
from polymodal.modalities.text import TOKENIZER_FILE, TextBatch, TextTokenizer, TextTokenizerConfig, TextTransform

__all__ = ["TextEncoderConfig", "TextEncoderModel", "Pooling", "POOLINGS"]

Pooling = Literal["mean", "cls", "pooler", "last"]


def _last_real(hidden: Tensor, mask: Tensor) -> Tensor:
    index = mask.long().cumsum(dim=1).argmax(dim=1)  # position of the last real token (CLIP's EOS)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]


# How a [B, T, D] sequence becomes [B, D]; "pooler" also needs the model's dense layer.
POOLINGS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mean": masked_mean,  # sentence-transformers
    "cls": lambda hidden, mask: hidden[:, 0],  # the [CLS] word token
    "pooler": lambda hidden, mask: hidden[:, 0],  # then dense + tanh (BERT's pooler)
    "last": _last_real,  # CLIP text: the EOS token
}


class TextEncoderConfig(Config):
    """:class:`TextEncoderModel`'s config: embeddings, encoder, pooling and the text
    transform's options (its vocabulary is an asset beside config.json)."""

    field_prefix: ClassVar[str] = "text_encoder"

    embeddings: TextTokenizerConfig
    encoder: EncoderConfig
    pooling: Pooling = "mean"
    pooler: bool = False
    causal: bool = False
    normalize: bool = False
    text: TextTransform.config_class | None = None  # type: ignore[valid-type]


@MODELS.register("text_encoder")
class TextEncoderModel(PretrainedModel):
    """Text → ``[B, D]`` embeddings with a BERT- or CLIP-style transformer.

    Args:
        embeddings: the :class:`TextTokenizer` (ids → Tokens).
        encoder: the :class:`TransformerEncoder` (no CLS token of its own: BERT's [CLS]
            is a word token; post-norm for BERT, pre-norm with final norm for CLIP).
        text_transform: strings → ids; needed by :meth:`encode_text` only.
        pooling: ``"mean"`` (sentence-transformers), ``"cls"``, ``"pooler"`` (BERT's
            dense + tanh on [CLS]) or ``"last"`` (CLIP's EOS token).
        pooler: build BERT's ``pooler`` (dense + tanh); its output is also reported in
            ``EncoderOutput.extras["pooler_output"]``.
        causal: causal self-attention (CLIP's text tower).
        normalize: L2-normalise :meth:`embed` outputs by default (all-MiniLM-L6-v2 does).
    """

    def __init__(
        self,
        embeddings: TextTokenizer,
        encoder: TransformerEncoder,
        *,
        text_transform: TextTransform | None = None,
        pooling: Pooling = "mean",
        pooler: bool = False,
        causal: bool = False,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError("pooling", f"one of {', '.join(POOLINGS)}", repr(pooling))
        if pooling == "pooler" and not pooler:
            raise ConfigError("pooling", "'pooler' only with pooler=True", repr(pooling))
        if embeddings.dim != encoder.dim:
            raise ConfigError("embeddings.dim", f"the encoder's width {encoder.dim}", repr(embeddings.dim))
        self.embeddings = embeddings
        self.encoder = encoder
        self.text_transform = text_transform
        self.pooling = pooling
        self.pooler = nn.Linear(encoder.dim, encoder.dim) if pooler else None
        self.causal = causal
        self.normalize = normalize

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @property
    def text_tokenizer(self) -> TextTransform | None:
        """Alias of :attr:`text_transform` (strings → :class:`TextBatch`)."""
        return self.text_transform

    # --- checkpoints ---------------------------------------------------------------------------
    def config(self) -> TextEncoderConfig:
        return TextEncoderConfig(
            embeddings=self.embeddings.config,
            encoder=self.encoder.config,
            pooling=self.pooling,
            pooler=self.pooler is not None,
            causal=self.causal,
            normalize=self.normalize,
            text=None if self.text_transform is None else self.text_transform.config(),
        )

    @classmethod
    def from_config(cls, config: TextEncoderConfig | Mapping[str, Any], directory: Path | None = None) -> TextEncoderModel:
        """The model; its vocabulary (``tokenizer.json``) is read from ``directory`` when there."""
        c = validate_config(TextEncoderConfig, config, "text_encoder")
        transform = None
        if directory is not None and c.text is not None:
            available = TextTransform.available(directory)
            # A saved model's config.json describes the tokenizer it saved; a converted folder's
            # ({}: no field set) takes the folder's tokenizer when there is one.
            if c.text.model_fields_set and not available:
                raise CheckpointError(str(Path(directory) / TOKENIZER_FILE), "the tokenizer saved with this model", "no such file")
            if available:
                # A length the config does not set explicitly comes from the folder's own files.
                max_length = c.text.max_length if "max_length" in c.text.model_fields_set else None
                transform = TextTransform.from_pretrained(directory, max_length=max_length)
        return cls(
            TextTokenizer.from_config(c.embeddings),
            TransformerEncoder.from_config(c.encoder),
            text_transform=transform,
            pooling=c.pooling,
            pooler=c.pooler,
            causal=c.causal,
            normalize=c.normalize,
        )

    def save_assets(self, directory: Path) -> None:
        if self.text_transform is not None:
            self.text_transform.save(directory)

    # --- forward ---------------------------------------------------------------------------------
    def forward(
        self, batch: TextBatch, *, output_hidden_states: bool = False, output_attentions: bool = False
    ) -> EncoderOutput:
        """Encode a :class:`TextBatch` ``[B, T]``; ``pooled`` is ``[B, D]`` by the model's pooling."""
        tokens = self.embeddings(batch)
        out = self.encoder(
            tokens, causal=self.causal, output_hidden_states=output_hidden_states, output_attentions=output_attentions
        )
        first = POOLINGS[self.pooling](out.hidden, out.mask)
        if self.pooler is not None:
            pooler_output = torch.tanh(self.pooler(out.hidden[:, 0]))
            out.extras["pooler_output"] = pooler_output
            if self.pooling == "pooler":
                first = pooler_output
        out.pooled = first
        return out

    def embed(self, batch: TextBatch, *, normalize: bool | None = None) -> Tensor:
        """``[B, D]`` sentence embeddings of a :class:`TextBatch` (L2-normalised if asked or configured)."""
        pooled = self(batch).pooled
        return F.normalize(pooled, dim=-1) if (self.normalize if normalize is None else normalize) else pooled

    def tokenize(self, texts: Sequence[str]) -> TextBatch:
        """Strings → a padded :class:`TextBatch` on the model's device."""
        if self.text_transform is None:
            raise InputError("text_transform", "a model saved with its tokenizer (tokenizer.json)", None)
        return self.text_transform.batch(texts).to(self.embeddings.word_embeddings.weight.device)

    def encode_text(self, texts: Sequence[str], *, normalize: bool | None = None) -> Tensor:
        """``[B, D]`` embeddings of ``texts``. Grad mode is the caller's: wrap in ``torch.no_grad()`` to infer."""
        return self.embed(self.tokenize(texts), normalize=normalize)
