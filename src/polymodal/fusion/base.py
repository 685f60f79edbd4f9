"""The one interface every fusion strategy shares, its registry and its factory.

A fusion strategy arranges the shared transformer ``g`` over several modalities' token
sequences (Xu, Zhu & Clifton, TPAMI 2023, §4.2, "cross-modal interactions"). Every
strategy takes ``Mapping[str, Tokens]`` and returns one :class:`FusionOutput`, so a config
switches strategy by one word: ``build_fusion("cross_attention", {...})``.

Missing modalities follow one convention everywhere: a key absent from ``inputs`` is a
modality missing for the whole batch; a row of ``Tokens.mask`` that is all ``False`` is a
modality missing for that sample. Keys are sorted so that results do not depend on the
order a caller built its dict in (TorchMultimodal's ``LateFusion`` does the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import field_validator, model_validator

import torch
from torch import Tensor, nn

from polymodal.configurable import Config, validate_config
from polymodal.encoder.transformer import EncoderConfig, TransformerEncoder
from polymodal.errors import ConfigError, InputError
from polymodal.registry import Registry
from polymodal.tokens import Tokens, masked_mean

__all__ = [
    "FUSIONS",
    "Fusion",
    "FusionConfig",
    "FusionOutput",
    "build_fusion",
    "concat_tokens",
    "mean_over_present",
    "split_tokens",
]

_BUILTIN_FUSIONS = tuple(
    f"polymodal.fusion.{m}"
    for m in ("cross_attention", "cross_to_concat", "early_concat", "early_sum", "late", "multi_to_one", "one_to_multi")
)


def _strategy_of(config_class: type) -> str:
    """The registered name of the strategy whose config is ``config_class`` (for error messages)."""
    return next((name for name, cls in FUSIONS.items() if cls.config_class is config_class), "config")


@dataclass
class FusionOutput:
    """What every fusion strategy returns.

    Attributes:
        sequence: ``[B, N, D]`` fused token sequence with its mask (``modality="fused"``), or
            ``None`` for strategies that never form one (late fusion, cross-attention).
        per_modality: each present modality's final tokens ``[B, N_m, D]``; for single-stream
            strategies these are the modality's slice of the fused sequence. Absent keys are absent.
        pooled: ``[B, D]`` one vector per sample; zeros for a sample with no modality at all.
        attentions: with ``output_attentions``, stage name → one ``[B, H, N_q, N_k]`` map per
            layer (``"fused"``, ``"shared"``, ``"<modality>"``, ``"cross:<modality>"``,
            ``"self:<modality>"``); ``None`` otherwise.
        logits: ``[B, C]`` combined predictions when a strategy carries its own heads (late
            fusion with ``num_classes``), else ``None``.
    """

    sequence: Tokens | None
    per_modality: dict[str, Tokens]
    pooled: Tensor
    attentions: dict[str, tuple[Tensor, ...]] | None = None
    logits: Tensor | None = None


class FusionConfig(Config):
    """Fields every strategy shares; each strategy's config extends it with its stage depths.

    A typed, frozen config (:class:`~polymodal.configurable.Config`): unknown keys and
    values outside a ``Literal`` raise :class:`ConfigError` naming ``fusion.<strategy>.<field>``.
    Defaults are tiny (tests, the digits comparison); set ``dim=768, num_heads=12`` for ViT-B.
    """

    # The modalities the strategy builds parameters for (per-modality encoders, type embeddings).
    modalities: tuple[str, ...]
    dim: int = 64
    num_heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.0

    @classmethod
    def prefix(cls) -> str:
        return f"fusion.{_strategy_of(cls)}"

    @field_validator("modalities", mode="before")
    @classmethod
    def _sorted_names(cls, mods: Any) -> tuple[str, ...]:
        if isinstance(mods, str) or not isinstance(mods, (tuple, list)) or not mods:
            raise ConfigError(f"{cls.prefix()}.modalities", "a non-empty list of modality names", repr(mods))
        if len(set(mods)) != len(mods) or not all(isinstance(m, str) and m for m in mods):
            raise ConfigError(f"{cls.prefix()}.modalities", "distinct non-empty names", repr(mods))
        # Sorted once here so that parameter order and every loop are deterministic.
        return tuple(sorted(mods))

    @model_validator(mode="after")
    def _check_shape(self) -> FusionConfig:
        prefix = self.prefix()
        for name in ("dim", "num_heads", *(n for n in type(self).model_fields if n.endswith("depth"))):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{prefix}.{name}", "a positive integer", repr(getattr(self, name)))
        if self.dim % self.num_heads != 0:
            raise ConfigError(f"{prefix}.num_heads", f"a divisor of dim={self.dim}", repr(self.num_heads))
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"{prefix}.dropout", "a probability in [0, 1)", repr(self.dropout))
        return self

    def encoder(self, depth: int, shared: TransformerEncoder | None = None) -> TransformerEncoder:
        """A stack of ``depth`` pre-norm blocks at this width, no CLS token, mean pooling; or
        ``shared``, an encoder built elsewhere, once its width is checked."""
        if shared is not None:
            if not isinstance(shared, TransformerEncoder):
                raise ConfigError("fusion.encoder", "a TransformerEncoder", type(shared).__name__)
            if shared.config.dim != self.dim:
                raise ConfigError("dim", f"the shared encoder's width {shared.config.dim}", self.dim)
            return shared
        return TransformerEncoder(
            EncoderConfig(
                dim=self.dim,
                depth=depth,
                num_heads=self.num_heads,
                mlp_ratio=self.mlp_ratio,
                dropout=self.dropout,
                cls_token=False,
                pool="mean",
            )
        )


class Fusion(nn.Module):
    """Base class: input checks and the shared ``forward`` signature.

    Subclasses set ``config_class`` and implement ``fuse(items, output_attentions)`` where
    ``items`` is the sorted list of ``(modality, Tokens)`` pairs actually given.
    """

    config_class: ClassVar[type[FusionConfig]] = FusionConfig
    # Single-stream strategies run one encoder over every modality's tokens and accept a
    # shared, pretrained one in its place (Meta-Transformer's g): ``__init__(config, encoder)``.
    accepts_encoder: ClassVar[bool] = False

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise ConfigError("fusion", f"a {self.config_class.__name__}", type(config).__name__)
        # The typed config: ``fusion.config.dim``, and ``fusion.config()`` like every part.
        self.config = config

    @classmethod
    def from_config(
        cls, config: FusionConfig | Mapping[str, Any], *, encoder: TransformerEncoder | None = None
    ) -> Fusion:
        """This strategy built from its config or a mapping of its fields; ``encoder`` is a
        built encoder shared as the single stream (strategies with ``accepts_encoder``)."""
        config = validate_config(cls.config_class, config, f"fusion.{cls.__dict__.get('name') or cls.__name__}")
        if encoder is None:
            return cls(config)
        if not cls.accepts_encoder:
            single = ", ".join(n for n, c in FUSIONS.items() if c.accepts_encoder)
            raise ConfigError("fusion", f"a single-stream strategy ({single}) to share an encoder", repr(cls.name))
        return cls(config, encoder=encoder)

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.config.modalities

    @property
    def dim(self) -> int:
        return self.config.dim

    def check_inputs(self, inputs: Mapping[str, Tokens]) -> list[tuple[str, Tokens]]:
        """Validate ``inputs`` and return its ``(name, Tokens)`` pairs sorted by name."""
        if not isinstance(inputs, Mapping) or not inputs:
            raise InputError("inputs", "a non-empty mapping modality name → Tokens", inputs)
        items = [(name, inputs[name]) for name in sorted(inputs)]  # by name (and traceable by torch.compile)
        batch = None
        for name, tokens in items:
            if name not in self.modalities:
                raise InputError("inputs", "keys among " + ", ".join(self.modalities), repr(name))
            if not isinstance(tokens, Tokens):
                raise InputError(f"inputs[{name!r}]", "a polymodal.Tokens", type(tokens).__name__)
            if tokens.dim != self.dim:
                raise InputError(f"inputs[{name!r}].embeddings", f"width D={self.dim}", f"D={tokens.dim}")
            if batch is not None and tokens.batch_size != batch:
                raise InputError(f"inputs[{name!r}]", f"batch size {batch} like the other modalities", tokens.batch_size)
            batch = tokens.batch_size
        return items

    def forward(self, inputs: Mapping[str, Tokens], *, output_attentions: bool = False) -> FusionOutput:
        """Inputs: modality → :class:`Tokens` ``[B, N_m, D]``. Returns :class:`FusionOutput`."""
        return self.fuse(self.check_inputs(inputs), output_attentions)

    def fuse(self, items: list[tuple[str, Tokens]], output_attentions: bool) -> FusionOutput:
        raise NotImplementedError



#: Fusion strategies by name; each entry is a :class:`Fusion` subclass with a ``config_class``.
#: Plugins add theirs through the ``polymodal.fusions`` entry-point group.
FUSIONS: Registry[type[Fusion]] = Registry("fusion", group="polymodal.fusions", builtins=_BUILTIN_FUSIONS, base=Fusion)


def build_fusion(
    name: str, config: FusionConfig | Mapping[str, Any] | None = None, *, encoder: TransformerEncoder | None = None, **overrides: Any
) -> Fusion:
    """The strategy registered as ``name``, built from a config object or a plain mapping.

    ``encoder`` injects a built (often pretrained, frozen) encoder as the single stream of a
    strategy that has one (``accepts_encoder``: early concatenation, early summation); its
    width must be the config's ``dim``.

    Example: ``build_fusion("early_concat", {"modalities": ["image", "text"], "dim": 768})``.
    """
    cls = FUSIONS.get(name, field="fusion")
    if isinstance(config, Config) and not isinstance(config, cls.config_class):
        raise ConfigError("fusion", f"a {cls.config_class.__name__} for '{name}'", type(config).__name__)
    if overrides:
        if config is not None and not isinstance(config, (Config, Mapping)):
            raise ConfigError("fusion", "a FusionConfig or a mapping", type(config).__name__)
        base = config.model_dump() if isinstance(config, Config) else dict(config or {})
        config = {**base, **overrides}
    return cls.from_config(config if config is not None else {}, encoder=encoder)


# --- helpers the strategies share -------------------------------------------------------


def concat_tokens(items: list[tuple[str, Tokens]]) -> tuple[Tokens, dict[str, slice]]:
    """Concatenate along tokens: ``C(Z(A), Z(B))`` → ``[B, ΣN_m, D]`` and each modality's slice.

    Attention biases (e.g. a graph's) stay within their own block; between modalities the
    bias is zero, so tokens of different modalities attend to each other freely.
    """
    slices: dict[str, slice] = {}
    start = 0
    for name, tokens in items:
        slices[name] = slice(start, start + tokens.length)
        start += tokens.length
    emb = torch.cat([t.embeddings for _, t in items], dim=1)
    mask = torch.cat([t.mask for _, t in items], dim=1)
    bias = None
    if any(t.attention_bias is not None for _, t in items):
        heads = max(t.attention_bias.shape[1] for _, t in items if t.attention_bias is not None)
        bias = emb.new_zeros(emb.shape[0], heads, start, start)
        for name, tokens in items:
            if tokens.attention_bias is not None:
                s = slices[name]
                bias[:, :, s, s] = tokens.attention_bias
    return Tokens(emb, mask, "fused", bias), slices


def split_tokens(hidden: Tensor, mask: Tensor, slices: Mapping[str, slice]) -> dict[str, Tokens]:
    """Inverse of :func:`concat_tokens`: ``[B, ΣN_m, D]`` → modality → ``[B, N_m, D]``."""
    return {name: Tokens(hidden[:, s], mask[:, s], name) for name, s in slices.items()}


def mean_over_present(pooled: Mapping[str, Tensor], present: Mapping[str, Tensor]) -> Tensor:
    """``[B, D]`` average of per-modality vectors over the modalities present in each sample.

    A sample missing a modality averages over the others (renormalised), so its result equals
    the one it would get with that modality absent; a sample with none gets zeros.
    """
    names = sorted(pooled)
    stacked = torch.stack([pooled[n] for n in names], dim=1)  # [B, M, D]
    return masked_mean(stacked, torch.stack([present[n].bool() for n in names], dim=1))  # over [B, M]


def pool_sequence(tokens: Tokens) -> Tensor:
    """``[B, D]`` masked mean over the real tokens of a fused sequence."""
    return masked_mean(tokens.embeddings, tokens.mask)
