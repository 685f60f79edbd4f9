"""Meta-Transformer: per-modality tokenizers around one frozen, pretrained, shared encoder.

Zhang et al., "Meta-Transformer: A Unified Framework for Multimodal Learning" (2023):
``h ∘ g ∘ f`` with a data-to-sequence tokenizer ``f`` per modality, a shared encoder ``g``
that stays frozen, and light heads ``h``. Here ``g`` is a pretrained text encoder
(all-MiniLM-L6-v2) and the model aligns every other modality to that encoder's own
sentence embeddings, CLIP-style: images and speech become tokens, pass through the
frozen text transformer, are mean-pooled as MiniLM pools sentences, and a linear
projection per modality maps them into MiniLM's sentence space, where a caption's
embedding is their target. Only the tokenizers, the token norms, the projections and
the temperature train.

The model exposes ``encode_text(list[str])``, ``encode_<modality>(batch)`` and
``logit_scale``, which is what :class:`~polymodal.evaluation.zero_shot.ZeroShotClassifier`
and retrieval need. Its ``config.json`` carries each modality's preprocessing (the audio
transform with its normalisation statistics, the image scaling), the class names and the
prompt templates, so that ``polymodal.load(dir)`` predicts from files with nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.configurable import Config, validate_config
from polymodal.models.base import MODELS, PretrainedModel
from polymodal.encoder import EncoderConfig, TransformerEncoder, masked_mean
from polymodal.errors import ConfigError, InputError
from polymodal.modalities.base import TokenizerSpec
from polymodal.models.text_model import TextEncoderConfig, TextEncoderModel
from polymodal.tokens import Tokens

__all__ = ["MetaTransformer", "MetaTransformerConfig", "MetaTransformerOutput"]


class MetaTransformerConfig(Config):
    """:class:`MetaTransformer`'s config: the text model's, each modality's tokenizer and
    preprocessing options, the zero-shot classes and templates."""

    field_prefix: ClassVar[str] = "meta_transformer"

    text: TextEncoderConfig
    tokenizers: dict[str, TokenizerSpec]
    shared_encoder: Literal["pretrained", "random"] = "pretrained"
    init_temperature: float = 0.07
    preprocessing: dict[str, dict[str, Any]] = {}
    class_names: list[str] = []
    templates: dict[str, list[str]] = {}
    token_norm: bool = True

# CLIP clamps the logit scale at 100 so that the logits cannot grow without bound.
MAX_LOG_SCALE = math.log(100.0)


@dataclass
class MetaTransformerOutput:
    """What :meth:`MetaTransformer.forward` returns.

    Attributes:
        embeddings: per modality, ``[B_m, D]`` projected (not normalised) embeddings.
        logit_scale: the clamped log-space temperature scale, a scalar (use ``.exp()``).
    """

    embeddings: dict[str, Tensor]
    logit_scale: Tensor


def _to_float32(batch: Any) -> Any:
    """A batch with its floating tensors in float32 (a bare tensor or a Batch dataclass)."""
    if isinstance(batch, Tensor):
        return batch.float() if batch.is_floating_point() else batch
    if is_dataclass(batch):
        changes = {f.name: getattr(batch, f.name).float() for f in fields(batch)
                   if isinstance(getattr(batch, f.name), Tensor) and getattr(batch, f.name).is_floating_point()}
        return replace(batch, **changes)
    return batch


@MODELS.register("meta_transformer")
class MetaTransformer(PretrainedModel):
    """Frozen shared encoder + trainable per-modality tokenizers and projections.

    Args:
        text_model: the pretrained :class:`TextEncoderModel` (frozen here); its encoder is
            the shared ``g`` and its sentence embeddings the text side of the shared space.
        tokenizers: ``{modality: TokenizerSpec}`` of the non-text modalities.
        shared_encoder: ``"pretrained"`` shares ``text_model.encoder``; ``"random"``
            builds a frozen encoder of the same shape with random weights (the ablation
            that shows what the pretrained weights bring).
        init_temperature: the contrastive temperature to start from (CLIP: 0.07).
        preprocessing: per modality, the transform options (JSON-able) saved with the weights.
        class_names: label names, for zero-shot prediction.
        templates: per modality, prompt templates with one ``{}`` for the class name.
        token_norm: LayerNorm each tokenizer's output before the encoder (BERT normalises its
            embeddings so; off, the stems' own scale goes in).
    """

    def __init__(
        self,
        text_model: TextEncoderModel,
        tokenizers: Mapping[str, TokenizerSpec],
        *,
        shared_encoder: str = "pretrained",
        init_temperature: float = 0.07,
        preprocessing: Mapping[str, Mapping[str, Any]] | None = None,
        class_names: Sequence[str] = (),
        templates: Mapping[str, Sequence[str]] | None = None,
        token_norm: bool = True,
    ) -> None:
        super().__init__()
        if shared_encoder not in ("pretrained", "random"):
            raise ConfigError("model.shared_encoder", "'pretrained' or 'random'", repr(shared_encoder))
        if "text" in tokenizers:
            raise ConfigError("model.tokenizers.text", "no entry: text uses the pretrained text model", "an entry")
        self.text = text_model
        self.text.requires_grad_(False)
        self.text.encoder.freeze()
        self.text.eval()
        dim = text_model.dim
        self.shared_encoder_kind = shared_encoder
        if shared_encoder == "random":
            # Same shape and behaviour, fresh truncated-normal weights; frozen like the pretrained one.
            self.random_encoder = TransformerEncoder(text_model.encoder.config).freeze()
        else:
            self.random_encoder = None
        self.specs = {name: spec for name, spec in sorted(tokenizers.items())}
        self.tokenizers = nn.ModuleDict({name: spec.build(dim) for name, spec in self.specs.items()})
        # BERT normalises its embeddings before the first block; a post-norm stack expects that scale.
        self.token_norm = token_norm
        self.token_norms = nn.ModuleDict({name: nn.LayerNorm(dim, eps=1e-12) if token_norm else nn.Identity() for name in self.specs})
        self.projections = nn.ModuleDict({name: nn.Linear(dim, dim) for name in self.specs})
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.init_temperature = init_temperature
        self.preprocessing = {k: dict(v) for k, v in (preprocessing or {}).items()}
        self.class_names = list(class_names)
        self.templates = {k: list(v) for k, v in (templates or {}).items()}

    # --- structure ---------------------------------------------------------------------------
    @property
    def encoder(self) -> TransformerEncoder:
        """The shared encoder ``g`` the non-text modalities pass through."""
        return self.random_encoder if self.random_encoder is not None else self.text.encoder

    @property
    def dim(self) -> int:
        return self.text.dim

    @property
    def modalities(self) -> list[str]:
        return list(self.specs)

    def train(self, mode: bool = True) -> MetaTransformer:
        super().train(mode)
        self.text.eval()  # frozen: never dropout, whatever the caller's mode
        return self

    def no_weight_decay(self) -> set[str]:
        return {"logit_scale"}

    # --- encoding ----------------------------------------------------------------------------
    def tokenize(self, modality: str, batch: Any) -> Tokens:
        if modality not in self.tokenizers:
            raise InputError("modality", f"one of {', '.join(self.modalities)}", repr(modality))
        # The stems are tiny and run in float32 even under bf16 autocast: on CPU the bf16
        # convolution backward took ~1.5 s per call for these shapes (measured), 100× its float32 cost.
        device_type = self.logit_scale.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            batch = _to_float32(batch)
            tokens = self.tokenizers[modality](batch)
            return tokens.replace(embeddings=self.token_norms[modality](tokens.embeddings))

    def _pool(self, tokens: Tokens) -> Tensor:
        out = self.encoder(tokens)
        return masked_mean(out.hidden, out.mask)  # [B, D], as MiniLM pools a sentence

    def encode(self, inputs: Mapping[str, Any]) -> dict[str, Tensor]:
        """``{modality: batch}`` → ``{modality: [B_m, D]}`` projected embeddings.

        Modalities whose token sequences have the same length and no padding go through
        the encoder together in one pass (one batched call instead of one per modality).
        """
        tokens = {name: self.tokenize(name, batch) for name, batch in sorted(inputs.items())}
        pooled: dict[str, Tensor] = {}
        lengths = {t.length for t in tokens.values()}
        if len(tokens) > 1 and len(lengths) == 1 and all(bool(t.mask.all()) for t in tokens.values()):
            names = list(tokens)
            joined = Tokens.dense(torch.cat([tokens[n].embeddings for n in names]), "shared")
            chunks = self._pool(joined).split([tokens[n].batch_size for n in names])
            pooled = dict(zip(names, chunks))
        else:
            pooled = {name: self._pool(t) for name, t in tokens.items()}
        return {name: self.projections[name](x) for name, x in pooled.items()}

    def forward(self, inputs: Mapping[str, Any]) -> MetaTransformerOutput:
        return MetaTransformerOutput(self.encode(inputs), self.logit_scale.clamp(max=MAX_LOG_SCALE))

    def encode_text(self, texts: Sequence[str]) -> Tensor:
        """``[N, D]`` L2-normalised MiniLM sentence embeddings (masked mean) of ``texts``."""
        return self.text.encode_text(list(texts), normalize=True)

    def encode_modality(self, modality: str, batch: Any) -> Tensor:
        """``[B, D]`` L2-normalised embeddings of one modality's batch."""
        return F.normalize(self.encode({modality: batch})[modality], dim=-1)

    def encode_image(self, batch: Any) -> Tensor:
        return self.encode_modality("image", batch)

    def encode_audio(self, batch: Any) -> Tensor:
        return self.encode_modality("audio", batch)

    # --- checkpoints -------------------------------------------------------------------------
    def config(self) -> MetaTransformerConfig:
        return MetaTransformerConfig(
            text=self.text.config(),
            tokenizers=self.specs,
            shared_encoder=self.shared_encoder_kind,
            init_temperature=self.init_temperature,
            preprocessing=self.preprocessing,
            class_names=self.class_names,
            templates=self.templates,
            token_norm=self.token_norm,
        )

    @classmethod
    def from_config(cls, config: MetaTransformerConfig | Mapping[str, Any], directory: Path | None = None) -> MetaTransformer:
        c = validate_config(MetaTransformerConfig, config, "meta_transformer")
        return cls(
            TextEncoderModel.from_config(c.text, directory),
            c.tokenizers,
            shared_encoder=c.shared_encoder,
            init_temperature=c.init_temperature,
            preprocessing=c.preprocessing,
            class_names=c.class_names,
            templates=c.templates,
            token_norm=c.token_norm,
        )

    def save_assets(self, directory: Path) -> None:
        self.text.save_assets(directory)
