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
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from polymodal._files import atomic_write_text
from polymodal.data.collate import ManifestBatch, ManifestCollate
from polymodal.data.dataset import ManifestDataset, reader_for
from polymodal.data.manifest import TEXT_FIELD, Manifest, modality_of
from polymodal.errors import ConfigError, InputError
from polymodal.evaluation.metrics import confusion_matrix, macro_f1
from polymodal.modalities.base import TokenizerSpec
from polymodal.modalities.text import check_text_options
from polymodal.models.file_classifier import FileClassifier, build_transforms, modality_entry
from polymodal.objectives.base import ObjectiveOutput
from polymodal.training.config import RunConfig, StrictModel, check_options, config_field
from polymodal.training.sanity import check_labels
from polymodal.training.tasks import TASKS, IndexedData, Prediction, TrainingTask

__all__ = ["ManifestClassifierTask"]

log = logging.getLogger(__name__)

_DIM, _HEADS = 128, 4  # the model's width and heads when no shared encoder decides them


class _Tokenizer(StrictModel):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class _LoRA(StrictModel):
    r: int = Field(8, gt=0)
    alpha: float = Field(16.0, gt=0)
    targets: list[str] = Field(default_factory=lambda: ["qkv", "proj", "fc1", "fc2"], min_length=1)


class _SharedEncoder(StrictModel):
    pretrained: str
    # true: the encoder's weights stay as they are (Meta-Transformer's way); false: they train
    # with the rest (full fine-tuning).
    frozen: bool = True
    # Low-rank adapters on the frozen encoder's linear layers: only they (and the tokenizers
    # and head) train. Needs frozen: true.
    lora: _LoRA | None = None
    # "random": the same architecture, randomly initialised (the ablation of pretraining).
    weights: Literal["pretrained", "random"] = "pretrained"
    # With frozen: false, the encoder's (and its text embeddings') learning rate is
    # optimizer.lr times this: pretrained weights usually tune at a fraction of the rate.
    lr_scale: float = Field(1.0, gt=0)


class _Model(StrictModel):
    # Width and heads; with a shared encoder they are the encoder's (given, they must match).
    dim: int | None = Field(None, gt=0)
    num_heads: int | None = Field(None, gt=0)
    tokenizers: dict[str, _Tokenizer] = Field(default_factory=dict)
    fusion: str = "early_concat"
    fusion_options: dict[str, Any] = Field(default_factory=dict)
    modality_dropout: float = Field(0.0, ge=0, lt=1)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    # Weights of the classes in the loss: "balanced" weighs each class by
    # n_samples / (n_classes · n_class) over the training split (scikit-learn's rule), or one
    # weight per class in the manifest's class order.
    class_weights: Literal["none", "balanced"] | list[float] = "none"
    # Meta-Transformer's way: {pretrained: all-minilm-l6-v2 or a model folder, frozen: true}
    # replaces a single-stream fusion's encoder. A text model lends its text path too: the
    # text stream then reads with its vocabulary and embeddings.
    shared_encoder: _SharedEncoder | None = None


class _Data(StrictModel):
    # Relative to the config file's folder; the run records the absolute path.
    manifest: Path
    transforms: dict[str, dict[str, Any]] = Field(min_length=1)
    train_split: str = "train"
    # Evaluated during training (checkpoint.best_metric chooses on it); null: no validation.
    val_split: str | None = "val"
    # What `polymodal eval` reports by default (`eval --split NAME` chooses another).
    eval_split: str = "test"
    eval_batch_size: int = Field(64, gt=0)
    # "any": a sample needs one of the streams, the others count as missing (every fusion
    # strategy tolerates that); "all": samples lacking one are left out.
    require: Literal["all", "any"] = "any"
    # "balanced": every class is drawn as often as the largest (its samples repeated, the
    # remainder drawn with the run's seed); "shuffle": each sample once per epoch.
    sampling: Literal["shuffle", "balanced"] = "shuffle"
    # Per stream, its modality's training-time augmentation (training samples only):
    # time_series {jitter, scaling, crop}, point_cloud {rotate, scale, jitter, dropout},
    # graph {edge_dropout, feature_dropout}, image / video / multichannel {crop, flip}.
    augment: dict[str, dict[str, Any]] = Field(default_factory=dict)


class _Samples(IndexedData):
    """Transformed samples held in memory; ``get`` collates the ones asked for.

    Args:
        dataset: the split's samples, read and transformed once.
        augment: stream → augmentation (training samples only): ``get`` applies them to its
            copies, with a generator seeded by one draw from torch's global RNG, which the
            trainer checkpoints: a resumed run augments as the uninterrupted one did.
        order: positions of :attr:`items` that index ``i`` of the sampler stands for (a
            balanced view repeats the samples of small classes); default: each once.
    """

    def __init__(self, dataset: ManifestDataset, augment: Mapping[str, Any] | None = None, order: list[int] | None = None) -> None:
        self.items = [dataset[i] for i in range(len(dataset))]
        self.labels = list(dataset.labels)
        self.collate = ManifestCollate.for_transforms(dataset.transforms)
        self.augment = dict(augment or {})
        self.order = order

    def __len__(self) -> int:
        return len(self.items) if self.order is None else len(self.order)

    def get(self, indices: Tensor) -> ManifestBatch:
        items = [self.items[int(i) if self.order is None else self.order[int(i)]] for i in indices]
        if self.augment:
            generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, ())))
            items = [self._augmented(item, generator) for item in items]
        return self.collate(items)

    def _augmented(self, item: dict[str, Any], generator: torch.Generator) -> dict[str, Any]:
        return {k: (self.augment[k](v, generator) if k in self.augment and v is not None else v) for k, v in item.items()}


def balanced_order(labels: list[int], seed: int) -> list[int]:
    """Positions that hold every class as often as the largest class: each class's samples
    repeated whole, the remainder drawn without replacement with ``seed``; sorted by class."""
    by_class: dict[int, list[int]] = {}
    for position, label in enumerate(labels):
        by_class.setdefault(label, []).append(position)
    largest = max(len(v) for v in by_class.values())
    generator = torch.Generator().manual_seed(seed)
    order = []
    for label in sorted(by_class):
        members = by_class[label]
        whole, rest = divmod(largest, len(members))
        extra = torch.randperm(len(members), generator=generator)[:rest].tolist()
        order += members * whole + [members[i] for i in sorted(extra)]
    return order


def _prefixed(err: ConfigError, prefix: str) -> ConfigError:
    return ConfigError(f"{prefix}{err.field}", err.expected, err.got, hint=err.hint)


@TASKS.register("manifest_classifier")
class ManifestClassifierTask(TrainingTask):
    """Cross-entropy over the manifest's classes; ``evaluate`` gives validation ``accuracy``."""

    ModelConfig = _Model
    DataConfig = _Data

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        data, model = self.data_config, self.model_config
        if set(model.tokenizers) != set(data.transforms):
            raise ConfigError(
                "model.tokenizers", f"one tokenizer per stream of data.transforms {sorted(data.transforms)}", sorted(model.tokenizers)
            )
        if data.val_split is not None and data.val_split == data.eval_split:
            raise ConfigError(
                "data.val_split", f"a split other than the one eval reports ('{data.eval_split}'): choosing on it would "
                "overstate the result", data.val_split, hint="set data.val_split: null to train without validation",
            )
        unknown = sorted(set(data.augment) - set(data.transforms))
        if unknown:
            raise ConfigError(f"data.augment.{unknown[0]}", f"a stream of data.transforms {sorted(data.transforms)}", unknown[0])
        if model.shared_encoder is not None and model.shared_encoder.lora is not None and not model.shared_encoder.frozen:
            raise ConfigError("model.shared_encoder.lora", "unset with frozen: false (full fine-tuning trains every weight)", model.shared_encoder.lora.model_dump())
        for stream, options in data.transforms.items():
            if modality_of(stream) == TEXT_FIELD and model.shared_encoder is None:  # else: once the encoder is known
                check_text_options(options, f"data.transforms.{stream}")
        self._check_part_options()
        self.manifest_path = data.manifest if data.manifest.is_absolute() else Path.cwd() / data.manifest
        # A rank's batch may hold no sample of some stream: its tokenizer then has no gradient.
        self.unused_parameters = len(data.transforms) > 1
        self._manifest: Manifest | None = None
        self._transforms: dict[str, Any] | None = None
        self._parts = None
        self._eval: dict[str, _Samples] = {}
        self._train: _Samples | None = None
        self._checked = False
        self._class_weights: Tensor | None = None

    @classmethod
    def resolve_paths(cls, config: RunConfig, base: Path) -> RunConfig:
        """``data.manifest`` (and a text vocabulary folder) relative to ``base``, the config
        file's folder, made absolute: the run's config.yaml then works from any directory."""
        data = dict(config.data)
        if "manifest" in data and not Path(data["manifest"]).is_absolute():
            data["manifest"] = str((base / data["manifest"]).resolve())
        transforms = {k: dict(v) if isinstance(v, Mapping) else v for k, v in (data.get("transforms") or {}).items()}
        for stream, options in transforms.items():
            folder = options.get("directory") if isinstance(options, dict) else None
            if isinstance(folder, str) and not Path(folder).is_absolute():
                options["directory"] = str((base / folder).resolve())
        if transforms:
            data["transforms"] = transforms
        model = dict(config.model)
        shared = model.get("shared_encoder")
        if isinstance(shared, Mapping) and isinstance(shared.get("pretrained"), str):
            source = shared["pretrained"]
            if not Path(source).is_absolute() and (base / source).is_dir():  # a folder, not a model name
                model["shared_encoder"] = {**shared, "pretrained": str((base / source).resolve())}
        return config.model_copy(update={"data": data, "model": model})

    # --- data ---------------------------------------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = Manifest.load(self.manifest_path)
            if self._manifest.classes is None or len(self._manifest.classes) < 2:
                raise ConfigError("data.manifest", "a manifest whose labels name at least two classes", str(self.manifest_path))
        return self._manifest

    def _check_part_options(self) -> None:
        """Unknown tokenizer or transform options are refused here, at the config's boundary,
        naming the dotted field, rather than as a TypeError deep in a constructor."""
        from polymodal.modalities.base import TOKENIZERS

        for stream, spec in self.model_config.tokenizers.items():
            tokenizer = TOKENIZERS.get(spec.name, field=f"model.tokenizers.{stream}.name")
            check_options(tokenizer, spec.options, f"model.tokenizers.{stream}.options", skip=("dim",))
        for stream, options in self.data_config.transforms.items():
            if modality_of(stream) != TEXT_FIELD:
                check_options(modality_entry(stream).transform, options, f"data.transforms.{stream}")

    def _text_from_encoder(self, stream: str) -> bool:
        """Whether ``stream`` reads with the shared encoder's own text path: a text stream when
        the shared encoder is a text model's (its vocabulary and word + position embeddings)."""
        if self.model_config.shared_encoder is None or modality_of(stream) != TEXT_FIELD:
            return False
        return self.parts.text_transform is not None

    @property
    def parts(self):
        """The shared encoder's parts (:func:`polymodal.pretrained.shared_parts`), loaded once."""
        if self._parts is None and self.model_config.shared_encoder is not None:
            from polymodal.pretrained import shared_parts

            self._parts = shared_parts(self.model_config.shared_encoder.pretrained)
        return self._parts

    def _training_raws(self, stream: str) -> list[Any]:
        """The raw training samples of ``stream`` (as its reader gives them), to fit a transform on."""
        read = reader_for(stream)
        samples = [s for s in self.manifest.select(split=self.data_config.train_split) if stream in s.inputs]
        out = []
        for sample in samples:
            try:
                out.append(read(sample.inputs[stream]))
            except InputError as err:
                raise InputError(f"{self.manifest_path}, line {sample.line}, field '{stream}'", err.expected, err.got, hint=err.hint) from err
        return out

    @property
    def transforms(self) -> dict[str, Any]:
        """Every stream's transform, built once so that the data and the model share them
        (fitted on the training split where they must be: tabular statistics, a text vocabulary)."""
        if self._transforms is None:
            options: dict[str, Any] = {name: dict(value) for name, value in self.data_config.transforms.items()}
            for stream in options:
                if self._text_from_encoder(stream):
                    options[stream] = self._encoder_text_transform(stream, options[stream])
                elif modality_of(stream) == TEXT_FIELD:
                    check_text_options(options[stream], f"data.transforms.{stream}")
            built: dict[str, Any] = {}
            for stream in sorted(options):  # one at a time, so that an error names its stream's option
                with config_field(f"data.transforms.{stream}"):
                    built.update(build_transforms({stream: options[stream]}, fit_on=self._training_raws))
            self._transforms = built
        return self._transforms

    def _encoder_text_transform(self, stream: str, options: dict[str, Any]) -> Any:
        field = f"data.transforms.{stream}"
        if set(options) - {"max_length"}:
            # Its layers were trained on its own ids and embeddings: another vocabulary or
            # fresh embeddings would hand it tokens it never learnt to read.
            raise ConfigError(field, "only max_length (a pretrained text encoder reads text with its own vocabulary)", options)
        if self.model_config.tokenizers[stream].name != "text" or self.model_config.tokenizers[stream].options:
            raise ConfigError(
                f"model.tokenizers.{stream}", "{name: text} without options (the text encoder's own embeddings)",
                self.model_config.tokenizers[stream].model_dump(),
            )
        from polymodal.modalities.text import TextTransform

        own = self.parts.text_transform
        return TextTransform(own.tokenizer, max_length=int(options.get("max_length", own.max_length)), pad_token=own.pad_token)

    def _samples(self, split: str, field: str) -> _Samples:
        transforms = self.transforms
        dataset = ManifestDataset(self.manifest, transforms, split=split, require=self.data_config.require)
        if len(dataset) == 0:
            raise ConfigError(
                field, f"samples of split '{split}' holding {sorted(transforms)}",
                f"none in {self.manifest_path} (splits: {self.manifest.splits})",
                hint="data.val_split: null trains without validation" if field == "data.val_split" else None,
            )
        if any(label < 0 for label in dataset.labels):
            raise ConfigError("data.manifest", f"a label on every '{split}' sample", "unlabelled samples")
        return _Samples(dataset)

    def _split_samples(self, split: str, field: str) -> _Samples:
        if split not in self._eval:
            self._eval[split] = self._samples(split, field)
        return self._eval[split]

    def _train_samples(self) -> _Samples:
        if self._train is None:
            self._train = self._samples(self.data_config.train_split, "data.train_split")
        return self._train

    @property
    def eval_split(self) -> str | None:
        """The split evaluated during training and the best checkpoint chosen on: ``data.val_split``."""
        return self.data_config.val_split

    def check_data(self) -> None:
        """Before anything is written: the training and validation splits hold samples, the
        training labels make sense (:mod:`polymodal.training.sanity`), and the checkpoint is
        never chosen on a split named ``test``."""
        d = self.data_config
        if d.val_split is not None and d.val_split.lower() == "test":
            raise ConfigError("data.val_split", "a validation split to choose the best checkpoint on (never test)", repr(d.val_split))
        train = self._train_samples()
        val = None if d.val_split is None else self._split_samples(d.val_split, "data.val_split")
        self.warnings += check_labels(
            list(train.labels), None if val is None else list(val.labels), list(self.manifest.classes or ()),
            train_split=d.train_split, eval_split=d.val_split,
        )

    def train_data(self) -> IndexedData:
        d = self.data_config
        data = self._train_samples()
        data.augment = {
            stream: modality_entry(stream).build_augmentation(options, self.transforms[stream], f"data.augment.{stream}")
            for stream, options in d.augment.items()
        }
        if d.sampling == "balanced":
            data.order = balanced_order(data.labels, self.config.training.seed)
        self._class_weights = self._weights(data.labels)
        if d.val_split is not None:  # fail now, not at the first evaluation
            self._split_samples(d.val_split, "data.val_split")
        return data

    def _weights(self, labels: list[int]) -> Tensor | None:
        """The loss's class weights (``model.class_weights``) over the training labels."""
        given, classes = self.model_config.class_weights, len(self.manifest.classes or ())
        if given == "none":
            return None
        if given == "balanced":
            counts = torch.bincount(torch.tensor(labels), minlength=classes).float()
            if bool((counts == 0).any()):
                missing = [self.manifest.classes[i] for i in torch.nonzero(counts == 0).flatten().tolist()]
                raise ConfigError("model.class_weights", "every class in the training split (balanced weights)", f"no sample of {missing}")
            return len(labels) / (classes * counts)
        if len(given) != classes or any(w < 0 for w in given):
            raise ConfigError("model.class_weights", f"{classes} non-negative weights, in the class order {list(self.manifest.classes)}", given)
        return torch.tensor(given, dtype=torch.float32)

    # --- model --------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        m = self.model_config
        encoder, embeddings = None, {}
        dim, num_heads = m.dim or _DIM, m.num_heads or _HEADS
        if m.shared_encoder is not None:
            encoder, embeddings = self._shared(m.shared_encoder)
            own = encoder.config
            for key, given, value in (("dim", m.dim, own.dim), ("num_heads", m.num_heads, own.num_heads)):
                if given is not None and given != value:
                    raise ConfigError(f"model.{key}", f"the shared encoder's {value} (or unset)", given)
            dim, num_heads = own.dim, own.num_heads
        transforms = self.transforms  # built (and checked) first: their errors name their own fields
        try:
            model = FileClassifier(
                list(self.manifest.classes or ()),
                {name: TokenizerSpec(t.name, dict(t.options)) for name, t in m.tokenizers.items()},
                transforms,
                fusion=m.fusion,
                dim=dim,
                num_heads=num_heads,
                fusion_options=m.fusion_options,
                modality_dropout=m.modality_dropout,
                encoder=encoder,
                freeze_encoder=True if m.shared_encoder is None else m.shared_encoder.frozen,
                embeddings=embeddings,
            )
        except ConfigError as err:
            leaf = err.field.split(".")[-1]
            if err.field.startswith("fusion.") and leaf in m.fusion_options:  # the strategy's own field, set in fusion_options
                err = ConfigError(f"fusion_options.{leaf}", err.expected, err.got, hint=err.hint)
            raise _prefixed(err, "model.") from None
        if m.shared_encoder is not None:
            model.encoder_lr_scale = m.shared_encoder.lr_scale
        return model

    def _shared(self, shared: _SharedEncoder) -> tuple[Any, dict[str, nn.Module]]:
        """The shared encoder (pretrained or re-initialised, with LoRA adapters if asked) and the
        text embeddings it lends the streams that read with its vocabulary."""
        import copy

        from polymodal.encoder import TransformerEncoder
        from polymodal.encoder.lora import LoRAConfig, apply_lora
        from polymodal.modalities.text import TextTokenizer

        parts = self.parts
        encoder = copy.deepcopy(parts.encoder)
        text = [s for s in self.data_config.transforms if self._text_from_encoder(s)]
        embeddings = {s: copy.deepcopy(parts.text_embeddings) for s in text}
        if shared.weights == "random":  # the architecture alone: drawn from the run's seeded RNG
            encoder = TransformerEncoder(parts.encoder.config)
            embeddings = {s: TextTokenizer(parts.text_embeddings.config) for s in text}
        if shared.lora is not None:
            apply_lora(encoder, LoRAConfig(r=shared.lora.r, alpha=shared.lora.alpha, targets=tuple(shared.lora.targets)))
        return encoder, embeddings

    def loss(self, model: nn.Module, batch: ManifestBatch) -> ObjectiveOutput:
        if not self._checked:  # after a resume the weights come from a checkpoint: same preprocessing?
            getattr(model, "module", model).check_transforms("the checkpoint resumed from")
            self._checked = True
        logits = model(batch.inputs, present=batch.present).logits
        weight = None if self._class_weights is None else self._class_weights.to(logits.device)
        loss = F.cross_entropy(logits.float(), batch.labels, weight=weight, label_smoothing=self.model_config.label_smoothing)
        return ObjectiveOutput(loss, metrics={"train_accuracy": (logits.argmax(-1) == batch.labels).float().mean()})

    # --- evaluation ---------------------------------------------------------------------------
    def _predictions(self, model: nn.Module, samples: _Samples) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Predicted and true classes of ``samples``, and which streams each sample held."""
        device = next(model.parameters()).device
        predicted, labels, held = [], [], []
        size = self.data_config.eval_batch_size
        for start in range(0, len(samples), size):
            batch = samples.get(torch.arange(start, min(start + size, len(samples)))).to(device)
            predicted.append(model(batch.inputs, present=batch.present).logits.argmax(-1).cpu())
            labels.append(batch.labels.cpu())
            for row in range(len(batch)):
                names = [m for m in batch.inputs if m not in batch.present or bool(batch.present[m][row])]
                held.append("+".join(sorted(names)))
        return torch.cat(predicted).numpy(), torch.cat(labels).numpy(), held

    def _figures(self, predicted: np.ndarray, labels: np.ndarray, held: list[str]) -> dict[str, float]:
        confusion = confusion_matrix(torch.from_numpy(predicted), torch.from_numpy(labels), len(self.manifest.classes or ()))
        figures = {"accuracy": float((predicted == labels).mean()), "macro_f1": macro_f1(confusion)}
        kinds = sorted(set(held))
        if len(kinds) > 1:
            for kind in kinds:
                rows = np.array([h == kind for h in held])
                figures[f"accuracy_{kind}"] = float((predicted[rows] == labels[rows]).mean())
        return figures

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation figures (``data.val_split``, never the split eval reports): ``accuracy``
        and ``macro_f1``; with samples holding different streams, also ``accuracy_<streams>``
        per kind (``accuracy_audio``, ``accuracy_audio+image``). Empty without a val split."""
        if self.data_config.val_split is None:
            return {}
        return self._figures(*self._predictions(model, self._split_samples(self.data_config.val_split, "data.val_split")))

    def export(self, model: nn.Module, directory: Path) -> None:
        model.save_pretrained(directory)

    def _load(self, run_dir: Path) -> FileClassifier:
        import polymodal

        model = polymodal.load(Path(run_dir) / "model").eval()
        model.check_transforms(str(Path(run_dir) / "model"))
        return model

    def report(self, run_dir: Path, split: str | None = None) -> dict[str, float]:
        """Accuracy, macro F1 and the confusion matrix of the exported model on ``split``
        (default ``data.eval_split``), written to ``eval.md``/``eval.json`` (another split:
        ``eval_<split>.md``/``.json``)."""
        run_dir = Path(run_dir)
        split = split or self.data_config.eval_split
        model = self._load(run_dir)
        self._transforms, self._eval = dict(model.transforms), {}  # the exported preprocessing, vocabulary included
        with torch.no_grad():
            out = self._predictions(model, self._split_samples(split, "split" if split != self.data_config.eval_split else "data.eval_split"))
        figures = self._figures(*out)
        matrix = confusion_matrix(torch.from_numpy(out[0]), torch.from_numpy(out[1]), len(model.classes)).tolist()
        kinds = {kind: out[2].count(kind) for kind in sorted(set(out[2]))}
        rows = [
            "| true \\ predicted | " + " | ".join(model.classes) + " |",
            "|---" * (len(model.classes) + 1) + "|",
            *(f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in zip(model.classes, matrix)),
        ]
        stem = "eval" if split == self.data_config.eval_split else f"eval_{split}"
        atomic_write_text(
            run_dir / f"{stem}.md",
            f"# {run_dir.name}: split '{split}', {len(out[1])} samples\n\n"
            + "samples by the modalities they hold: " + ", ".join(f"{k} {n}" for k, n in kinds.items()) + "\n\n"
            + "\n".join(f"- {key}: {value:.4f}" for key, value in figures.items())
            + "\n\n"
            + "\n".join(rows)
            + "\n"
        )
        atomic_write_text(run_dir / f"{stem}.json", json.dumps(figures, indent=2) + "\n")
        return figures

    # --- inference ----------------------------------------------------------------------------
    def predict(self, run_dir: Path, modality: str, paths: list[Path]) -> list[Prediction]:
        model = self._load(run_dir)
        return Prediction.from_probabilities(paths, model.predict_files(modality, paths), model.classes)

    def embed(self, run_dir: Path, modality: str, paths: list[Path]) -> Tensor:
        return self._load(run_dir).embed_files(modality, paths)
