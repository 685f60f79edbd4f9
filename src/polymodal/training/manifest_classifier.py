"""Train a classifier on a manifest of your own files: ``task: manifest_classifier``.

Any registered modalities, any tokenizers, any fusion strategy; the model is a
:class:`~polymodal.models.file_classifier.FileClassifier`, saved with its class names and
preprocessing. A run config::

    task: manifest_classifier
    output_dir: runs/pets
    data:
      manifest: data/pets/manifest.jsonl   # labels by index or class name; splits "train", "val"
      eval_split: val                      # null: no held-out evaluation
      transforms:                          # each modality the model reads: its transform's options
        image: {size: 64, crop: 64, mean: 0.5, std: 0.25}
        text: {vocab_size: 4000, max_length: 64}   # or {directory: <a folder with tokenizer.json>}
    model:
      dim: 128
      num_heads: 4
      tokenizers:                          # per modality: a registered tokenizer and its options
        image: {name: patch, options: {in_channels: 3, patch_size: 8, image_size: 64}}
        text: {name: text}                 # vocab_size and max_positions come from the vocabulary
      fusion: early_concat                 # any registered strategy; its own fields below
      fusion_options: {depth: 2}

A sample needs at least one of the modalities the config names; the ones it lacks count as
missing, which every fusion strategy tolerates (``data.require: all`` leaves such samples out
instead). The transformed training samples are held in memory, so each file is read once.
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

from polymodal._files import atomic_write_text
from polymodal.data.collate import ManifestBatch, ManifestCollate
from polymodal.data.dataset import ManifestDataset
from polymodal.data.manifest import TEXT_FIELD, Manifest
from polymodal.errors import ConfigError
from polymodal.evaluation.metrics import confusion_matrix, macro_f1
from polymodal.models.file_classifier import FileClassifier, build_transforms
from polymodal.modalities.text import TextTransform
from polymodal.modalities.base import TokenizerSpec
from polymodal.training.config import RunConfig, StrictModel, check_options, config_field
from polymodal.objectives.base import ObjectiveOutput
from polymodal.training.sanity import check_labels
from polymodal.training.tasks import TASKS, IndexedData, Prediction, TrainingTask

__all__ = ["ManifestClassifierTask"]


class _Tokenizer(StrictModel):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class _SharedEncoder(StrictModel):
    pretrained: str
    frozen: bool = True


class _Model(StrictModel):
    dim: int = Field(128, gt=0)
    num_heads: int = Field(4, gt=0)
    tokenizers: dict[str, _Tokenizer] = Field(default_factory=dict)
    fusion: str = "early_concat"
    fusion_options: dict[str, Any] = Field(default_factory=dict)
    modality_dropout: float = Field(0.0, ge=0, lt=1)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    # Meta-Transformer's way: {pretrained: all-minilm-l6-v2 or a model folder, frozen: true}
    # replaces a single-stream fusion's encoder; model.dim must be its width.
    shared_encoder: _SharedEncoder | None = None


class _Data(StrictModel):
    manifest: Path
    transforms: dict[str, dict[str, Any]] = Field(min_length=1)
    train_split: str = "train"
    eval_split: str | None = "val"
    eval_batch_size: int = Field(64, gt=0)
    # "any": a sample needs one of the modalities, the others count as missing (every fusion
    # strategy tolerates that); "all": samples lacking one are left out.
    require: Literal["all", "any"] = "any"


class _Samples(IndexedData):
    """Transformed samples held in memory; ``get`` collates the ones asked for."""

    def __init__(self, dataset: ManifestDataset) -> None:
        self.items = [dataset[i] for i in range(len(dataset))]
        self.collate = ManifestCollate.for_transforms(dataset.transforms)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, indices: Tensor) -> ManifestBatch:
        return self.collate([self.items[int(i)] for i in indices])


@TASKS.register("manifest_classifier")
class ManifestClassifierTask(TrainingTask):
    """Cross-entropy over the manifest's classes; ``evaluate`` gives held-out ``accuracy``."""

    ModelConfig = _Model
    DataConfig = _Data

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        data, model = self.data_config, self.model_config
        if set(model.tokenizers) != set(data.transforms):
            raise ConfigError(
                "model.tokenizers", f"one tokenizer per modality of data.transforms {sorted(data.transforms)}", sorted(model.tokenizers)
            )
        if TEXT_FIELD in data.transforms:
            self._check_text_options(data.transforms[TEXT_FIELD])
        self._check_part_options()
        self.manifest_path = data.manifest if data.manifest.is_absolute() else Path.cwd() / data.manifest
        # A rank's batch may hold no sample of some modality: its tokenizer then has no gradient.
        self.unused_parameters = len(data.transforms) > 1
        self._manifest: Manifest | None = None
        self._transforms: dict[str, Any] | None = None
        self._eval: _Samples | None = None
        self._train: _Samples | None = None

    # --- data ---------------------------------------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = Manifest.load(self.manifest_path)
            if self._manifest.classes is None or len(self._manifest.classes) < 2:
                raise ConfigError("data.manifest", "a manifest whose labels name at least two classes", str(self.manifest_path))
        return self._manifest

    @property
    def transforms(self) -> dict[str, Any]:
        """Every modality's transform, built once so that the data and the model share them
        (a text vocabulary trained on the training split included)."""
        if self._transforms is None:
            options = {name: dict(value) for name, value in self.data_config.transforms.items()}
            text = options.pop(TEXT_FIELD, None)
            self._transforms = {}
            for name in options:
                with config_field(f"data.transforms.{name}"):
                    self._transforms.update(build_transforms({name: options[name]}))
            if text is not None:
                self._transforms[TEXT_FIELD] = self._text_transform(text)
        return self._transforms

    def _check_part_options(self) -> None:
        """Unknown tokenizer or transform options are refused here, at the config's boundary,
        naming the dotted field, rather than as a TypeError deep in a constructor."""
        from polymodal.modalities.base import MODALITIES, TOKENIZERS

        for name, spec in self.model_config.tokenizers.items():
            tokenizer = TOKENIZERS.get(spec.name, field=f"model.tokenizers.{name}.name")
            check_options(tokenizer, spec.options, f"model.tokenizers.{name}.options", skip=("dim",))
        for name, options in self.data_config.transforms.items():
            if name != TEXT_FIELD:
                check_options(MODALITIES.get(name, field=f"data.transforms.{name}").transform, options, f"data.transforms.{name}")

    @staticmethod
    def _check_text_options(options: dict[str, Any]) -> None:
        field = "data.transforms.text"
        expected = (
            "{directory: <a folder with tokenizer.json or vocab.txt>} or {vocab_size: N} "
            "(a WordPiece vocabulary trained on the training texts), and optionally max_length"
        )
        known = {"directory", "vocab_size", "max_length", "lowercase"}
        if set(options) - known or ("directory" in options) == ("vocab_size" in options):
            raise ConfigError(field, expected, options)
        if "directory" in options and "lowercase" in options:
            raise ConfigError(f"{field}.lowercase", "unset with a directory (its tokenizer files decide)", options["lowercase"])

    def _text_transform(self, options: dict[str, Any]) -> TextTransform:
        field = "data.transforms.text"
        if "directory" in options:
            return TextTransform.from_pretrained(options["directory"], max_length=options.get("max_length"))
        texts = [s.inputs[TEXT_FIELD] for s in self.manifest.select(split=self.data_config.train_split) if TEXT_FIELD in s.inputs]
        if not texts:
            raise ConfigError(field, f"training samples with text to learn a vocabulary from (split '{self.data_config.train_split}')", "none")
        return TextTransform.train_wordpiece(
            texts,
            vocab_size=int(options["vocab_size"]),
            lowercase=bool(options.get("lowercase", True)),
            max_length=int(options.get("max_length", 128)),
        )

    def _samples(self, split: str) -> _Samples:
        transforms = self.transforms
        dataset = ManifestDataset(self.manifest, transforms, split=split, require=self.data_config.require)
        if len(dataset) == 0:
            raise ConfigError(
                "data", f"samples of split '{split}' holding {sorted(transforms)}",
                f"none in {self.manifest_path} (splits: {self.manifest.splits})",
            )
        if any(label < 0 for label in dataset.labels):
            raise ConfigError("data.manifest", f"a label on every '{split}' sample", "unlabelled samples")
        return _Samples(dataset)

    def train_data(self) -> IndexedData:
        self._train = self._samples(self.data_config.train_split)
        return self._train

    @property
    def eval_split(self) -> str | None:
        return self.data_config.eval_split

    def check_data(self) -> None:
        """The eval split exists and holds samples; the training labels make sense (:mod:`.sanity`);
        model selection never uses a split named ``test``."""
        split, best = self.data_config.eval_split, self.config.training.checkpoint.best_metric
        if split is not None and split.lower() == "test" and best:
            raise ConfigError("data.eval_split", "a validation split to choose the best checkpoint on (never test)", repr(split))
        if split is not None:
            self._eval = self._samples(split)
        train = self._train if self._train is not None else self._samples(self.data_config.train_split)
        self.warnings += check_labels(
            [int(item["label"]) for item in train.items],
            None if self._eval is None else [int(item["label"]) for item in self._eval.items],
            list(self.manifest.classes or ()), train_split=self.data_config.train_split, eval_split=split,
        )

    # --- model --------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        m = self.model_config
        encoder = None
        if m.shared_encoder is not None:
            from polymodal.pretrained import shared_encoder

            encoder = shared_encoder(m.shared_encoder.pretrained)
        self.manifest, self.transforms  # loaded and built (and checked) first: their errors name their own fields
        for name, t in m.tokenizers.items():  # each alone first, so that an error names its options
            if name != TEXT_FIELD:
                with config_field(f"model.tokenizers.{name}.options"):
                    TokenizerSpec(t.name, dict(t.options)).build(m.dim)
        with config_field("model", {"fusion_options": m.fusion_options}):
            return self._file_classifier(encoder)

    def _file_classifier(self, encoder: Any) -> FileClassifier:
        m = self.model_config
        return FileClassifier(
            list(self.manifest.classes or ()),
            {name: TokenizerSpec(t.name, dict(t.options)) for name, t in m.tokenizers.items()},
            self.transforms,
            fusion=m.fusion,
            dim=m.dim,
            num_heads=m.num_heads,
            fusion_options=m.fusion_options,
            modality_dropout=m.modality_dropout,
            encoder=encoder,
            freeze_encoder=True if m.shared_encoder is None else m.shared_encoder.frozen,
        )

    def loss(self, model: nn.Module, batch: ManifestBatch) -> ObjectiveOutput:
        logits = model(batch.inputs, present=batch.present).logits
        loss = F.cross_entropy(logits.float(), batch.labels, label_smoothing=self.model_config.label_smoothing)
        return ObjectiveOutput(loss, metrics={"train_accuracy": (logits.argmax(-1) == batch.labels).float().mean()})

    # --- evaluation ---------------------------------------------------------------------------
    def _eval_predictions(self, model: nn.Module) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
        """Predicted and true classes of the eval split, and which modalities each sample held."""
        if self.data_config.eval_split is None:
            return None
        if self._eval is None:
            self._eval = self._samples(self.data_config.eval_split)
        device = next(model.parameters()).device
        predicted, labels, held = [], [], []
        size = self.data_config.eval_batch_size
        for start in range(0, len(self._eval), size):
            batch = self._eval.get(torch.arange(start, min(start + size, len(self._eval)))).to(device)
            predicted.append(model(batch.inputs, present=batch.present).logits.argmax(-1).cpu())
            labels.append(batch.labels.cpu())
            for row in range(len(batch)):
                names = [m for m in batch.inputs if m not in batch.present or bool(batch.present[m][row])]
                held.append("+".join(sorted(names)))
        return torch.cat(predicted).numpy(), torch.cat(labels).numpy(), held

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Held-out ``accuracy`` and ``macro_f1``; with samples holding different modalities,
        also ``accuracy_<modalities>`` per kind (``accuracy_audio``, ``accuracy_audio+image``)."""
        out = self._eval_predictions(model)
        if out is None:
            return {}
        predicted, labels, held = out
        confusion = confusion_matrix(torch.from_numpy(predicted), torch.from_numpy(labels), len(self.manifest.classes or ()))
        figures = {"accuracy": float((predicted == labels).mean()), "macro_f1": macro_f1(confusion)}
        kinds = sorted(set(held))
        if len(kinds) > 1:
            for kind in kinds:
                rows = np.array([h == kind for h in held])
                figures[f"accuracy_{kind}"] = float((predicted[rows] == labels[rows]).mean())
        return figures

    def export(self, model: nn.Module, directory: Path) -> None:
        model.save_pretrained(directory)

    def _load(self, run_dir: Path) -> FileClassifier:
        import polymodal

        return polymodal.load(Path(run_dir) / "model").eval()

    def report(self, run_dir: Path) -> dict[str, float]:
        """Held-out accuracy, macro F1 and the confusion matrix of the exported model."""
        run_dir = Path(run_dir)
        model = self._load(run_dir)
        self._transforms, self._eval = dict(model.transforms), None  # the exported preprocessing, vocabulary included
        with torch.no_grad():
            out = self._eval_predictions(model)
            figures = self.evaluate(model)
        if out is None:
            return figures
        matrix = confusion_matrix(torch.from_numpy(out[0]), torch.from_numpy(out[1]), len(model.classes)).tolist()
        kinds = {kind: out[2].count(kind) for kind in sorted(set(out[2]))}
        rows = [
            "| true \\ predicted | " + " | ".join(model.classes) + " |",
            "|---" * (len(model.classes) + 1) + "|",
            *(f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in zip(model.classes, matrix)),
        ]
        atomic_write_text(
            run_dir / "eval.md",
            f"# {run_dir.name}: held-out split '{self.data_config.eval_split}', {len(out[1])} samples\n\n"
            + "samples by the modalities they hold: " + ", ".join(f"{k} {n}" for k, n in kinds.items()) + "\n\n"
            + "\n".join(f"- {key}: {value:.4f}" for key, value in figures.items())
            + "\n\n"
            + "\n".join(rows)
            + "\n"
        )
        atomic_write_text(run_dir / "eval.json", json.dumps(figures, indent=2) + "\n")
        return figures

    # --- inference ----------------------------------------------------------------------------
    def predict(self, run_dir: Path, modality: str, paths: list[Path]) -> list[Prediction]:
        model = self._load(run_dir)
        return Prediction.from_probabilities(paths, model.predict_files(modality, paths), model.classes)

    def embed(self, run_dir: Path, modality: str, paths: list[Path]) -> Tensor:
        return self._load(run_dir).embed_files(modality, paths)
