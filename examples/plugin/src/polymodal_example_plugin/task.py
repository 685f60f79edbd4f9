"""``task: focal_classifier``: a classifier of manifest samples trained with the focal loss.

The focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection") scales each
sample's cross-entropy by ``(1 - p_t)^γ``: well-classified samples count less, so rare or
hard classes are not drowned by easy ones. ``γ = 0`` is the plain cross-entropy.

The task is written against polymodal's public interface only: a :class:`TrainingTask`
with strict ``ModelConfig``/``DataConfig``, the manifest data path, and a
:class:`~polymodal.models.FileClassifier` assembled from registered parts (any modality,
tokenizer and fusion, this plugin's included). A run config::

    task: focal_classifier
    output_dir: runs/fabrics
    data:
      manifest: data/fabrics/manifest.jsonl
      transforms: {spectrum: {start: 900, stop: 1700, points: 64}}
    model:
      dim: 32
      tokenizers: {spectrum: {name: spectrum_bands, options: {points: 64, band: 8}}}
      fusion: gated_late
      modality_dropout: 0.3
      gamma: 2.0
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

import polymodal
from polymodal.data import ManifestBatch, ManifestCollate, ManifestDataset, Manifest
from polymodal.errors import ConfigError
from polymodal.evaluation.metrics import confusion_matrix, macro_f1
from polymodal.modalities import MODALITIES, TokenizerSpec
from polymodal.models import FileClassifier
from polymodal.objectives.base import ObjectiveOutput
from polymodal.training import IndexedData, Prediction, RunConfig, StrictModel, TrainingTask

__all__ = ["FocalClassifierTask", "focal_loss"]


def focal_loss(logits: Tensor, targets: Tensor, gamma: float) -> Tensor:
    """Mean focal loss of ``logits [B, C]`` against ``targets [B]``: ``-(1 - p_t)^γ log p_t``."""
    log_p = logits.float().log_softmax(dim=-1).gather(1, targets[:, None])[:, 0]  # [B] log p_t
    return (-((1.0 - log_p.exp()) ** gamma) * log_p).mean()


class _Tokenizer(StrictModel):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class FocalModelConfig(StrictModel):
    """The ``model`` section."""

    dim: int = Field(64, gt=0)
    num_heads: int = Field(4, gt=0)
    # Per modality: a registered tokenizer and its options (default: the modality's own).
    tokenizers: dict[str, _Tokenizer] = Field(default_factory=dict)
    fusion: str = "gated_late"
    fusion_options: dict[str, Any] = Field(default_factory=dict)
    # Hide one modality of a training sample with this probability, so that each modality's
    # branch learns to classify alone (samples often lack one).
    modality_dropout: float = Field(0.0, ge=0, lt=1)
    # The focal loss's focusing parameter; 0 is the plain cross-entropy.
    gamma: float = Field(2.0, ge=0)


class FocalDataConfig(StrictModel):
    """The ``data`` section: a manifest and each modality's transform options."""

    manifest: Path
    transforms: dict[str, dict[str, Any]] = Field(min_length=1)
    train_split: str = "train"
    eval_split: str | None = "val"
    # "any": a sample needs one of the modalities (the fusion tolerates the others missing).
    require: Literal["all", "any"] = "any"


class _Samples(IndexedData):
    """Transformed samples held in memory (each file is read once); ``get`` collates."""

    def __init__(self, dataset: ManifestDataset) -> None:
        self.items = [dataset[i] for i in range(len(dataset))]
        self.collate = ManifestCollate.for_transforms(dataset.transforms)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, indices: Tensor) -> ManifestBatch:
        return self.collate([self.items[int(i)] for i in indices])


class FocalClassifierTask(TrainingTask):
    """Focal loss over the manifest's classes; held-out ``accuracy`` and ``macro_f1``."""

    ModelConfig = FocalModelConfig
    DataConfig = FocalDataConfig

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        data, model = self.data_config, self.model_config
        unknown = sorted(set(model.tokenizers) - set(data.transforms))
        if unknown:
            raise ConfigError(f"model.tokenizers.{unknown[0]}", f"a modality of data.transforms {sorted(data.transforms)}", "another")
        for name in data.transforms:
            MODALITIES.get(name, field=f"data.transforms.{name}")  # an unknown modality fails here, named
        self.manifest_path = data.manifest if data.manifest.is_absolute() else Path.cwd() / data.manifest
        self.unused_parameters = len(data.transforms) > 1  # a batch may hold no sample of a modality
        self._manifest: Manifest | None = None
        self._transforms: dict[str, Any] | None = None
        self._eval: _Samples | None = None

    # --- data ---------------------------------------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = Manifest.load(self.manifest_path)
            if self._manifest.classes is None or len(self._manifest.classes) < 2:
                raise ConfigError("data.manifest", "labels naming at least two classes", str(self.manifest_path))
        return self._manifest

    @property
    def transforms(self) -> dict[str, Any]:
        """Each modality's registered transform built from its options (shared by data and model)."""
        if self._transforms is None:
            self._transforms = {
                name: MODALITIES.get(name).transform(**options) for name, options in sorted(self.data_config.transforms.items())
            }
        return self._transforms

    def _samples(self, split: str) -> _Samples:
        dataset = ManifestDataset(self.manifest, self.transforms, split=split, require=self.data_config.require)
        if len(dataset) == 0 or min(dataset.labels) < 0:
            raise ConfigError("data", f"labelled samples of split '{split}'", f"{len(dataset)} in {self.manifest_path}")
        return _Samples(dataset)

    def train_data(self) -> IndexedData:
        return self._samples(self.data_config.train_split)

    # --- model and loss -----------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        m = self.model_config
        tokenizers = {
            name: TokenizerSpec(m.tokenizers[name].name, dict(m.tokenizers[name].options))
            if name in m.tokenizers
            else TokenizerSpec(MODALITIES.get(name).default_tokenizer)
            for name in self.transforms
        }
        return FileClassifier(
            list(self.manifest.classes or ()),
            tokenizers,
            self.transforms,
            fusion=m.fusion,
            dim=m.dim,
            num_heads=m.num_heads,
            fusion_options=m.fusion_options,
            modality_dropout=m.modality_dropout,
        )

    def loss(self, model: nn.Module, batch: ManifestBatch) -> ObjectiveOutput:
        logits = model(batch.inputs, present=batch.present).logits
        loss = focal_loss(logits, batch.labels, self.model_config.gamma)
        return ObjectiveOutput(loss, metrics={"train_accuracy": (logits.argmax(-1) == batch.labels).float().mean()})

    # --- evaluation and inference ---------------------------------------------------------------
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if self.data_config.eval_split is None:
            return {}
        if self._eval is None:
            self._eval = self._samples(self.data_config.eval_split)
        device = next(model.parameters()).device
        batch = self._eval.get(torch.arange(len(self._eval))).to(device)
        with torch.no_grad():
            predicted = model(batch.inputs, present=batch.present).logits.argmax(-1)
        confusion = confusion_matrix(predicted.cpu(), batch.labels.cpu(), len(self.manifest.classes or ()))
        majority = np.bincount(batch.labels.cpu().numpy()).max() / len(batch)
        return {
            "accuracy": float((predicted == batch.labels).float().mean()),
            "macro_f1": macro_f1(confusion),
            "majority_baseline": float(majority),  # always the most frequent class: the floor to beat
        }

    def export(self, model: nn.Module, directory: Path) -> None:
        model.save_pretrained(directory)

    def _load(self, run_dir: Path) -> FileClassifier:
        return polymodal.load(Path(run_dir) / "model")

    def report(self, run_dir: Path) -> dict[str, float]:
        """Held-out figures of the exported model, written to ``eval.json``."""
        model = self._load(run_dir)
        self._transforms, self._eval = dict(model.transforms), None  # the saved preprocessing
        figures = self.evaluate(model)
        (Path(run_dir) / "eval.json").write_text(json.dumps(figures, indent=2) + "\n")
        return figures

    def predict(self, run_dir: Path, modality: str, paths: list[Path]) -> list[Prediction]:
        model = self._load(run_dir)
        return Prediction.from_probabilities(paths, model.predict_files(modality, paths), model.classes)

    def embed(self, run_dir: Path, modality: str, paths: list[Path]) -> Tensor:
        return self._load(run_dir).embed_files(modality, paths)
