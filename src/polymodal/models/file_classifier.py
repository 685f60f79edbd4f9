"""A classifier of files: each modality's transform and tokenizer → a fusion → a linear head.

What ``polymodal train`` builds for ``task: manifest_classifier``. Its class names and every
modality's preprocessing are saved with the weights, so ``polymodal.load(dir)`` classifies
new files on its own::

    model = polymodal.load("runs/pets/model")
    probs = model.predict_files("image", ["cat.png", "dog.jpg"])   # [2, C]
    model.classes[probs.argmax(-1)[0]]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from polymodal.models.base import MODELS, PretrainedModel
from polymodal.data.manifest import TEXT_FIELD
from polymodal.encoder import EncoderConfig, TransformerEncoder
from polymodal.errors import CheckpointError, ConfigError, InputError
from polymodal.fusion.base import build_fusion
from polymodal.fusion.modality_dropout import ModalityDropout
from polymodal.models.fusion_model import FusionClassifier, FusionClassifierOutput
from polymodal.modalities.base import MODALITIES, TokenizerSpec
from polymodal.modalities.text import TOKENIZER_FILE, TextTransform

__all__ = ["FileClassifier", "build_transforms"]


def build_transforms(options: Mapping[str, Mapping[str, Any] | Any]) -> dict[str, Any]:
    """Modality → its registered transform built from ``options`` (sorted by modality); a
    value that is already a transform (not a mapping) is kept as it is."""
    transforms = {}
    for name in sorted(options):
        spec = MODALITIES.get(name, field=f"modalities.{name}")
        if not isinstance(options[name], Mapping):
            transforms[name] = options[name]
            continue
        try:
            transforms[name] = spec.transform(**dict(options[name]))
        except TypeError as err:  # an option the transform does not take
            raise ConfigError(f"transforms.{name}", f"options of {spec.transform.__name__}", str(err)) from None
    return transforms


@MODELS.register("file_classifier")
class FileClassifier(PretrainedModel):
    """``head(fusion({m: tokenizer_m(batch_m)}).pooled)`` with each modality's preprocessing.

    Args:
        classes: the class names, in label order (``C`` of them).
        tokenizers: modality → :class:`TokenizerSpec` (a registered tokenizer and its options).
            A ``text`` tokenizer takes its ``vocab_size`` and ``max_positions`` from the text
            transform unless its options say otherwise.
        transforms: modality → the options of that modality's registered transform, or the
            transform itself (``text``: a :class:`TextTransform`, whose vocabulary is saved
            beside the weights as ``tokenizer.json``).
        fusion: a registered fusion strategy's name; its ``modalities``, ``dim`` and
            ``num_heads`` come from here, its own fields (stage depths) from ``fusion_options``.
        dim, num_heads: the token width ``D`` and attention heads of every stage.
        fusion_options: the strategy's other config fields (``depth``, ``dropout``, ...).
        modality_dropout: probability of hiding one modality of a training sample.
        encoder: Meta-Transformer's way: a built encoder (often pretrained, as
            :func:`polymodal.pretrained.shared_encoder` gives one) injected as the single
            stream of the fusion (``early_concat``, ``early_sum``) and shared by every
            modality; ``dim`` must be its width, and the fusion's own ``depth`` and
            ``num_heads`` cannot apply. A saved model keeps its config and weights.
        freeze_encoder: keep the injected encoder's weights fixed (only tokenizers, type
            embeddings and head train).

    Inputs:
        batch: modality → that modality's collated batch; an absent modality is missing
            for every sample (the fusion tolerates it).
        present: modality → ``[B]`` bool for modalities only some samples hold (see
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
    ) -> None:
        super().__init__()
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ConfigError("classes", "at least two distinct class names", list(classes))
        if not tokenizers or set(tokenizers) != set(transforms):
            raise ConfigError("tokenizers", f"one tokenizer per modality of the transforms {sorted(transforms)}", sorted(tokenizers))
        self.classes = list(classes)
        self.specs = {name: MODALITIES.get(name, field=f"modalities.{name}") for name in sorted(tokenizers)}
        self.transforms = build_transforms(transforms)
        self.tokenizer_specs = {name: tokenizers[name] for name in self.specs}
        text = self.transforms.get(TEXT_FIELD)
        if text is not None and self.tokenizer_specs[TEXT_FIELD].name == "text":
            spec = self.tokenizer_specs[TEXT_FIELD]
            sizes = {"vocab_size": text.vocab_size, "max_positions": text.max_length}
            self.tokenizer_specs[TEXT_FIELD] = TokenizerSpec(spec.name, {**sizes, **spec.options})
        self.fusion_name, self.fusion_options = fusion, dict(fusion_options or {})
        self.dim, self.num_heads, self.modality_dropout = dim, num_heads, modality_dropout
        fusion_config = {**self.fusion_options, "modalities": list(self.specs), "dim": dim, "num_heads": num_heads}
        tokenizer_modules = {name: spec.build(dim) for name, spec in self.tokenizer_specs.items()}
        self.freeze_encoder = freeze_encoder
        self.encoder_config: EncoderConfig | None = None
        if encoder is not None:
            cannot = sorted({"depth", "num_heads"} & set(self.fusion_options))
            if cannot:
                raise ConfigError(f"fusion_options.{cannot[0]}", "unset with a shared encoder (its own layers and heads are used)", self.fusion_options[cannot[0]])
            self.encoder_config = encoder.config
            encoder.freeze(freeze_encoder)
        fusion_module = build_fusion(fusion, fusion_config, encoder=encoder)
        self.model = FusionClassifier(
            tokenizer_modules,
            fusion_module,
            nn.Linear(dim, len(self.classes)),
            modality_dropout=ModalityDropout(modality_dropout) if modality_dropout > 0 else None,
        )

    @property
    def modalities(self) -> list[str]:
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
            "encoder": None if self.encoder_config is None else self.encoder_config.config(),
            "freeze_encoder": self.freeze_encoder,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path | None = None) -> FileClassifier:
        transforms = dict(config["transforms"])
        if TEXT_FIELD in transforms:  # the vocabulary is an asset beside config.json
            if directory is None or not TextTransform.available(directory):
                raise CheckpointError(str(directory), f"a model folder holding the text vocabulary ({TOKENIZER_FILE})", "none")
            transforms[TEXT_FIELD] = TextTransform.from_pretrained(directory, max_length=transforms[TEXT_FIELD].get("max_length"))
        return cls(
            config["classes"],
            {name: TokenizerSpec(**spec) for name, spec in config["tokenizers"].items()},
            transforms,
            fusion=config["fusion"],
            dim=config["dim"],
            num_heads=config["num_heads"],
            fusion_options=config.get("fusion_options"),
            modality_dropout=config.get("modality_dropout", 0.0),
            encoder=None if config.get("encoder") is None else TransformerEncoder(EncoderConfig(**config["encoder"])),
            freeze_encoder=config.get("freeze_encoder", True),
        )

    def save_assets(self, directory: Path) -> None:
        if TEXT_FIELD in self.transforms:
            self.transforms[TEXT_FIELD].save(directory)

    # --- forward and inference ----------------------------------------------------------------
    def forward(
        self, batch: Mapping[str, Any], *, present: Mapping[str, Tensor] | None = None, output_attentions: bool = False
    ) -> FusionClassifierOutput:
        return self.model(batch, present=present, output_attentions=output_attentions)

    def preprocess(self, modality: str, paths: Sequence[str | Path]) -> Any:
        """Files of one modality → its collated batch on the model's device (read, transform, collate)."""
        if modality not in self.specs:
            raise InputError("modality", f"one of the model's modalities {self.modalities}", repr(modality))
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
