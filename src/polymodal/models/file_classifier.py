"""A classifier of files: each modality's transform and tokenizer → a fusion → a linear head.

What ``polymodal train`` builds for ``task: manifest_classifier``. Its class names and every
modality's preprocessing are saved with the weights, so ``polymodal.load(dir)`` classifies
new files on its own::

    model = polymodal.load("runs/pets/model")
    probs = model.predict_files("image", ["cat.png", "dog.jpg"])   # [2, C]
    model.classes[probs.argmax(-1)[0]]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from polymodal.data.manifest import modality_of
from polymodal.encoder import EncoderConfig, TransformerEncoder
from polymodal.encoder.lora import LoRAConfig, apply_lora, lora_config
from polymodal.errors import CheckpointError, ConfigError, InputError
from polymodal.fusion.base import build_fusion
from polymodal.fusion.modality_dropout import ModalityDropout
from polymodal.modalities.base import MODALITIES, TOKENIZERS, Modality, Tokenizer, TokenizerSpec
from polymodal.models.base import MODELS, PretrainedModel
from polymodal.models.fusion_model import FusionClassifier, FusionClassifierOutput

__all__ = ["FileClassifier", "build_transforms", "modality_entry"]


def modality_entry(stream: str) -> type[Modality]:
    """The registered modality of a stream (``image`` for ``image`` and ``image:side``)."""
    name = modality_of(stream)
    return MODALITIES.get(name, field=f"modalities.{name}")


def build_transforms(
    options: Mapping[str, Mapping[str, Any] | Any], fit_on: Callable[[str], Sequence[Any]] | None = None
) -> dict[str, Any]:
    """Stream → its modality's transform built from ``options`` (sorted by stream); a value
    that is already a transform (not a mapping) is kept as it is.

    ``fit_on(stream)`` gives a stream's raw training samples, for transforms fitted on
    training data (tabular statistics, a text vocabulary: :meth:`Modality.build_transform`).
    """
    transforms = {}
    for name in sorted(options):
        spec = modality_entry(name)
        if not isinstance(options[name], Mapping):
            transforms[name] = options[name]
            continue
        try:
            transforms[name] = spec.build_transform(dict(options[name]), None if fit_on is None else partial(fit_on, name))
        except TypeError as err:  # an option the transform does not take
            raise ConfigError(f"transforms.{name}", f"options of the {spec.name} transform", str(err)) from None
    return transforms


def _asset_folder(directory: Path, stream: str) -> Path:
    # The first stream of a modality keeps its files beside config.json (tokenizer.json, as
    # Hugging Face folders do); another stream of it (text:title) in a folder of its own.
    return directory if stream == modality_of(stream) else directory / stream


@MODELS.register("file_classifier")
class FileClassifier(PretrainedModel):
    """``head(fusion({s: tokenizer_s(batch_s)}).pooled)`` with each stream's preprocessing.

    A *stream* is a manifest field: a modality (``image``) or a further field of one
    (``image:side``, ``time_series:ankle``) with its own transform and tokenizer.

    Args:
        classes: the class names, in label order (``C`` of them).
        tokenizers: stream → :class:`TokenizerSpec` (a registered tokenizer and its options).
            Options the model or the transform decides are filled in unless given: the
            tokenizer's ``model_settings`` (``num_heads`` of the graph tokenizer) from the
            model, and its modality's :meth:`~Modality.tokenizer_defaults` from the transform
            (a text vocabulary's size, a table's columns). ``dim`` is always the model's, and
            a model setting given with another value is refused.
        transforms: stream → the options of its modality's transform, or the transform
            itself. Transforms save their own files (a text vocabulary) with the model.
        fusion: a registered fusion strategy's name; its ``modalities``, ``dim`` and
            ``num_heads`` come from here, its own fields (stage depths) from ``fusion_options``.
        dim, num_heads: the token width ``D`` and attention heads of every stage.
        fusion_options: the strategy's other config fields (``depth``, ``dropout``, ...).
        modality_dropout: probability of hiding one stream of a training sample.
        encoder: Meta-Transformer's way: a built encoder (often pretrained, as
            :func:`polymodal.pretrained.shared_encoder` gives one) injected as the single
            stream of the fusion (``early_concat``, ``early_sum``) and shared by every
            modality; ``dim`` must be its width, and the fusion's own ``depth`` and
            ``num_heads`` cannot apply. LoRA adapters it holds (:func:`apply_lora`) are
            recorded and rebuilt on load. A saved model keeps its config and weights.
        freeze_encoder: keep the injected encoder's weights fixed (only tokenizers, type
            embeddings, head, and LoRA adapters if any, train).
        embeddings: stream → a built tokenizer that comes with the encoder (a pretrained text
            model's word and position embeddings, for the text stream): used instead of
            building one from its spec, frozen with the encoder.

    Inputs:
        batch: stream → its collated batch; an absent stream is missing for every sample
            (the fusion tolerates it).
        present: stream → ``[B]`` bool for streams only some samples hold (see
            :class:`FusionClassifier`), as :class:`ManifestBatch.present` gives it.

    Returns:
        :class:`FusionClassifierOutput` with ``logits [B, C]``.
    """

    def __init__(
        self,
        classes: Sequence[str],
        tokenizers: Mapping[str, TokenizerSpec],
        transforms: Mapping[str, Mapping[str, Any] | Any],
        *,
        fusion: str = "early_concat",
        dim: int = 128,
        num_heads: int = 4,
        fusion_options: Mapping[str, Any] | None = None,
        modality_dropout: float = 0.0,
        encoder: TransformerEncoder | None = None,
        freeze_encoder: bool = True,
        embeddings: Mapping[str, Tokenizer] | None = None,
    ) -> None:
        super().__init__()
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ConfigError("classes", "at least two distinct class names", list(classes))
        if not tokenizers or set(tokenizers) != set(transforms):
            raise ConfigError("tokenizers", f"one tokenizer per stream of the transforms {sorted(transforms)}", sorted(tokenizers))
        embeddings = dict(embeddings or {})
        if set(embeddings) - set(tokenizers):
            raise ConfigError("embeddings", f"streams among {sorted(tokenizers)}", sorted(embeddings))
        if embeddings and encoder is None:
            raise ConfigError("embeddings", "an encoder they come with (encoder=...)", sorted(embeddings))
        self.classes = list(classes)
        self.specs = {name: modality_entry(name) for name in sorted(tokenizers)}
        self.transforms = build_transforms(transforms)
        self.fusion_name, self.fusion_options = fusion, dict(fusion_options or {})
        self.dim, self.num_heads, self.modality_dropout = dim, num_heads, modality_dropout
        self.freeze_encoder = freeze_encoder
        self.encoder_config: EncoderConfig | None = None
        self.encoder_lora: LoRAConfig | None = None
        if encoder is not None:
            cannot = sorted({"depth", "num_heads"} & set(self.fusion_options))
            if cannot:
                raise ConfigError(f"fusion_options.{cannot[0]}", "unset with a shared encoder (its own layers and heads are used)", self.fusion_options[cannot[0]])
            if encoder.config.num_heads != num_heads:
                raise ConfigError("num_heads", f"the shared encoder's {encoder.config.num_heads} heads", num_heads)
            self.encoder_config = encoder.config
            self.encoder_lora = lora_config(encoder)
            encoder.freeze(freeze_encoder)
            if self.encoder_lora is not None:  # frozen or not, the adapters train
                for name, p in encoder.named_parameters():
                    if name.endswith(("lora_a", "lora_b")):
                        p.requires_grad_(True)
        self.embedding_streams = sorted(embeddings)
        self.tokenizer_specs = {name: self._complete(name, tokenizers[name], embeddings.get(name)) for name in self.specs}
        modules = {name: embeddings[name] if name in embeddings else spec.build(dim) for name, spec in self.tokenizer_specs.items()}
        for name in self.embedding_streams:
            modules[name].requires_grad_(not freeze_encoder)
        fusion_config = {**self.fusion_options, "modalities": list(self.specs), "dim": dim, "num_heads": num_heads}
        fusion_module = build_fusion(fusion, fusion_config, encoder=encoder)
        self.model = FusionClassifier(
            modules,
            fusion_module,
            nn.Linear(dim, len(self.classes)),
            modality_dropout=ModalityDropout(modality_dropout) if modality_dropout > 0 else None,
        )
        # What every transform was (fitted statistics, vocabularies) travels with the weights
        # and with every training checkpoint, so that a resumed run or a reloaded model can
        # tell that its preprocessing is the one the weights learnt with.
        self.register_buffer("transforms_digest", self._digest())
        # A training setting, not saved: the learning-rate factor of the shared encoder's
        # weights and the embeddings it lent (full fine-tuning at a fraction of the rate).
        self.encoder_lr_scale = 1.0

    def lr_scales(self) -> dict[str, float]:
        """Parameter name → learning-rate factor (the optimiser reads it: ``lr_scales``)."""
        if self.encoder_lr_scale == 1.0 or self.encoder_config is None:
            return {}
        lent = tuple(f"model.tokenizers.{s}." for s in self.embedding_streams)
        return {
            name: self.encoder_lr_scale
            for name, _ in self.named_parameters()
            if (name.startswith("model.fusion.encoder.") and not name.endswith(("lora_a", "lora_b"))) or name.startswith(lent)
        }

    def _complete(self, stream: str, spec: TokenizerSpec, built: Tokenizer | None) -> TokenizerSpec:
        """``spec`` with the options the model and the transform decide filled in."""
        field = f"tokenizers.{stream}.options"
        if built is not None:  # it came with the encoder: record its shape so that a reload rebuilds it
            options = {k: v for k, v in built.config().model_dump(mode="json").items() if k != "dim"}
            return TokenizerSpec(spec.name, options)
        if "dim" in spec.options:
            raise ConfigError(f"{field}.dim", f"unset (a tokenizer's width is the model's dim, {self.dim})", spec.options["dim"])
        model = {"num_heads": self.num_heads if self.encoder_config is None else self.encoder_config.num_heads}
        mirrored = getattr(TOKENIZERS.get(spec.name, field=f"tokenizers.{stream}.name"), "model_settings", ())
        options = dict(spec.options)
        for key in mirrored:
            if key in options and options[key] != model[key]:
                raise ConfigError(f"{field}.{key}", f"the model's {key} {model[key]} (or unset)", options[key])
            options[key] = model[key]
        defaults = self.specs[stream].tokenizer_defaults(self.transforms[stream], spec.name)
        return TokenizerSpec(spec.name, {**defaults, **options})

    def _digest(self) -> Tensor:
        digest = hashlib.sha256()
        for name in sorted(self.transforms):
            digest.update(name.encode())
            digest.update(self.specs[name].transform_digest(self.transforms[name]))
        return torch.frombuffer(bytearray(digest.digest()), dtype=torch.uint8).clone()

    def check_transforms(self, source: str = "checkpoint") -> None:
        """Raise :class:`CheckpointError` when the transforms differ from those the weights
        were trained with (``transforms_digest`` as loaded from ``source``)."""
        if not torch.equal(self.transforms_digest.cpu(), self._digest()):
            raise CheckpointError(
                f"{source}: transforms_digest", "the preprocessing the weights were trained with (fitted statistics, vocabulary)",
                "transforms fitted anew that differ", hint="did the training data or data.transforms change since?",
            )

    @property
    def modalities(self) -> list[str]:
        """The model's streams (``image``, ``image:side``, ...)."""
        return list(self.specs)

    # --- checkpoint --------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {
            "classes": self.classes,
            "tokenizers": {name: spec.config() for name, spec in self.tokenizer_specs.items()},
            "transforms": {name: transform.config() for name, transform in self.transforms.items()},
            "fusion": self.fusion_name,
            "dim": self.dim,
            "num_heads": self.num_heads,
            "fusion_options": self.fusion_options,
            "modality_dropout": self.modality_dropout,
            "encoder": self.encoder_config,
            "encoder_lora": self.encoder_lora,
            "freeze_encoder": self.freeze_encoder,
            "embeddings": self.embedding_streams,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path | None = None) -> FileClassifier:
        transforms = {
            name: modality_entry(name).load_transform(options, None if directory is None else _asset_folder(directory, name))
            for name, options in config["transforms"].items()
        }
        tokenizers = {name: TokenizerSpec(**spec) for name, spec in config["tokenizers"].items()}
        encoder = None
        if config.get("encoder") is not None:
            encoder = TransformerEncoder(EncoderConfig(**config["encoder"]))
            if config.get("encoder_lora") is not None:
                apply_lora(encoder, LoRAConfig(**config["encoder_lora"]))
        dim = config["dim"]
        embeddings = {name: tokenizers[name].build(dim) for name in config.get("embeddings", [])}
        return cls(
            config["classes"],
            tokenizers,
            transforms,
            fusion=config["fusion"],
            dim=dim,
            num_heads=config["num_heads"],
            fusion_options=config.get("fusion_options"),
            modality_dropout=config.get("modality_dropout", 0.0),
            encoder=encoder,
            freeze_encoder=config.get("freeze_encoder", True),
            embeddings=embeddings,
        )

    def save_assets(self, directory: Path) -> None:
        for name, transform in self.transforms.items():
            folder = _asset_folder(directory, name)
            folder.mkdir(parents=True, exist_ok=True)
            self.specs[name].save_transform(transform, folder)

    # --- forward and inference ----------------------------------------------------------------
    def forward(
        self, batch: Mapping[str, Any], *, present: Mapping[str, Tensor] | None = None, output_attentions: bool = False
    ) -> FusionClassifierOutput:
        return self.model(batch, present=present, output_attentions=output_attentions)

    def preprocess(self, modality: str, paths: Sequence[str | Path]) -> Any:
        """Files of one stream (a modality, or ``image:side``) → its collated batch on the
        model's device (read, transform, collate)."""
        if modality not in self.specs:
            raise InputError("modality", f"one of the model's streams {self.modalities}", repr(modality))
        spec, transform = self.specs[modality], self.transforms[modality]
        batch = spec.collate([transform(spec.read(path)) for path in paths])
        return batch.to(next(self.parameters()).device)

    @torch.no_grad()
    def predict_files(self, modality: str, paths: Sequence[str | Path], *, batch_size: int = 64) -> Tensor:
        """``[len(paths), C]`` class probabilities of files of one modality (the others missing),
        read ``batch_size`` files at a time."""
        return self._over_files(modality, paths, batch_size, lambda out: out.logits.float().softmax(dim=-1))

    @torch.no_grad()
    def embed_files(self, modality: str, paths: Sequence[str | Path], *, batch_size: int = 64) -> Tensor:
        """``[len(paths), D]`` fused pooled embeddings of files of one modality."""
        return self._over_files(modality, paths, batch_size, lambda out: out.fusion.pooled.float())

    def _over_files(
        self, modality: str, paths: Sequence[str | Path], batch_size: int, take: Callable[[FusionClassifierOutput], Tensor]
    ) -> Tensor:
        if batch_size < 1:
            raise InputError("batch_size", "a positive integer", batch_size)
        if not paths:
            raise InputError("paths", "at least one file", "none")
        was_training = self.training
        self.eval()
        try:
            chunks = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]
            return torch.cat([take(self({modality: self.preprocess(modality, chunk)})) for chunk in chunks]).cpu()
        finally:
            self.train(was_training)
