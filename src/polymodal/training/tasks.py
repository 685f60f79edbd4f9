"""Training tasks: what a run trains, on which data, with which loss, registered by name.

A run config's ``task`` names a :class:`TrainingTask` in :data:`TASKS`. The task owns the
``model`` and ``data`` sections (validated by its own strict pydantic models), builds the
model and the in-memory training set, computes the loss of a batch and evaluates; the
:class:`~polymodal.training.trainer.Trainer` owns everything generic (optimiser, schedule,
precision, accumulation, checkpoints, logging, DDP).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel
from torch import Tensor, nn

from polymodal.errors import CheckpointError, PolymodalError
from polymodal.objectives.base import ObjectiveOutput
from polymodal.registry import Registry
from polymodal.training.config import RunConfig, StrictModel, parse_section, read_config

__all__ = ["Prediction", "TrainingTask", "TASKS", "IndexedData", "get_task", "load_config", "task_names"]


@dataclass
class Prediction:
    """One file's prediction: the best label, its probability and the top alternatives."""

    path: str
    label: str
    probability: float
    top: list[tuple[str, float]] = field(default_factory=list)

    @classmethod
    def from_probabilities(
        cls, paths: Sequence[str | Path], probs: Tensor, class_names: Sequence[str], top: int = 5
    ) -> list[Prediction]:
        """One prediction per row of ``probs [N, C]``, with the ``top`` classes ranked.

        A row that is not finite is never turned into a label: it means the model itself
        is broken (NaN weights, a diverged run), which raises :class:`CheckpointError`.
        """
        bad = ~torch.isfinite(probs).all(dim=-1)
        if bool(bad.any()):
            first = str(list(paths)[int(bad.nonzero()[0])])
            raise CheckpointError(
                "model", "finite class probabilities", f"NaN or inf for {int(bad.sum())} of {len(bad)} inputs ({first}, ...)",
                hint="its weights hold NaN or inf: the run diverged or the folder is damaged",
            )
        out = []
        for path, row in zip(paths, probs):
            ranked = [(class_names[i], float(row[i])) for i in torch.argsort(row, descending=True)[:top]]
            out.append(cls(str(path), ranked[0][0], ranked[0][1], ranked))
        return out


class IndexedData:
    """A training set held in memory, gathered by index: ``get(indices [b]) -> batch``.

    Random access by index lets the sampler (not a data loader's iterator) own the data
    position, which makes resuming exact and lets each DDP rank take its slice of the
    same global batch.
    """

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def get(self, indices: Tensor) -> Any:  # pragma: no cover - interface
        raise NotImplementedError


class TrainingTask:
    """Base class of training tasks.

    Subclasses set ``ModelConfig`` and ``DataConfig`` (strict pydantic models) and implement
    :meth:`build_model`, :meth:`train_data`, :meth:`loss`, and optionally :meth:`evaluate`
    (quick metrics during training), :meth:`export` and :meth:`report` (``polymodal eval``).
    """

    name: ClassVar[str] = ""  # set by TASKS.register
    ModelConfig: ClassVar[type[BaseModel]] = StrictModel
    DataConfig: ClassVar[type[BaseModel]] = StrictModel
    # Whether a step may leave trainable parameters without a gradient (DDP must then look
    # for them); a task whose batches can lack a modality sets it.
    unused_parameters: bool = False

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.model_config = parse_section(self.ModelConfig, config.model, "model")
        self.data_config = parse_section(self.DataConfig, config.data, "data")
        # What check_data found worth telling the user (printed, and kept in metrics.json and report.md).
        self.warnings: list[str] = []

    @property
    def eval_split(self) -> str | None:
        """The name of the split :meth:`evaluate` scores (model selection uses it), if it has one."""
        return None

    def check_data(self) -> None:
        """Load and check what evaluation will need, after :meth:`train_data`, so that a bad
        data config fails before the run writes anything rather than at its first evaluation.
        Append to :attr:`warnings` what the user should hear of (a class never trained on)."""

    @classmethod
    def validate_config(cls, config: RunConfig) -> None:
        """Fail early, naming the dotted path, on a bad ``model`` or ``data`` section."""
        parse_section(cls.ModelConfig, config.model, "model")
        parse_section(cls.DataConfig, config.data, "data")

    @classmethod
    def resolve_paths(cls, config: RunConfig, base: Path) -> RunConfig:
        """``config`` with the task's relative file paths resolved against ``base``, the
        config file's folder (a dict config: the working directory), so that the run's
        recorded config works from any directory. The base class has no paths."""
        return config

    def build_model(self) -> nn.Module:  # pragma: no cover - interface
        raise NotImplementedError

    def train_data(self) -> IndexedData:  # pragma: no cover - interface
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Any) -> ObjectiveOutput:  # pragma: no cover - interface
        """Loss of one (micro-)batch with named terms and metrics; call ``model(...)`` so that DDP sees the forward."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Quick held-out metrics during training (for ``checkpoint.best_metric``)."""
        return {}

    def export(self, model: nn.Module, directory: Path) -> None:
        """Save the trained model as a self-contained model directory."""
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(directory / "model.safetensors"))

    def report(self, run_dir: Path, split: str | None = None) -> dict[str, float]:
        """Full evaluation of a finished run (``polymodal eval [--split NAME]``): figures,
        report.md, plots; ``split`` a data split other than the task's default, if it has splits."""
        return {}

    def predict(self, run_dir: Path, modality: str, paths: list[Path]) -> list[Prediction]:
        """Predictions for files of one modality (``polymodal predict``)."""
        raise PolymodalError(f"task '{self.name}' does not support predict")

    def embed(self, run_dir: Path, modality: str, paths: list[Path]) -> Tensor:
        """``[len(paths), D]`` embeddings in the model's shared space (``polymodal embed``)."""
        raise PolymodalError(f"task '{self.name}' does not support embed")


#: Training tasks by name. The recipes' tasks (digits-av, ...) and a user's own come in
#: through the ``polymodal.tasks`` entry-point group, as any plugin's would.
TASKS: Registry[type[TrainingTask]] = Registry(
    "training task", group="polymodal.tasks", builtins=("polymodal.training.manifest_classifier",), base=TrainingTask
)


def task_names() -> list[str]:
    return TASKS.names()


def get_task(name: str) -> type[TrainingTask]:
    """The task registered as ``name``."""
    return TASKS.get(name, field="task")


def load_config(source: str | Path | Mapping[str, Any], overrides: Iterable[str] = ()) -> RunConfig:
    """Read a YAML run config (or take a dict), apply ``key.sub=value`` overrides and validate
    every section, the task's own ``model`` and ``data`` included; the task's relative paths
    resolve against the config file's folder (a dict's: the working directory)."""
    config = read_config(source, overrides)
    task = get_task(config.task)
    task.validate_config(config)
    base = Path.cwd() if isinstance(source, Mapping) else Path(source).resolve().parent
    return task.resolve_paths(config, base)
