"""Training: strict run configs, the resumable DDP-aware trainer, atomic checkpoints."""

from polymodal.training.config import RunConfig, StrictModel
from polymodal.training.tasks import TASKS, IndexedData, Prediction, TrainingTask, get_task, load_config
from polymodal.training.trainer import Trainer, TrainingDiverged, TrainResult

__all__ = [
    "RunConfig",
    "StrictModel",
    "load_config",
    "TASKS",
    "TrainingTask",
    "IndexedData",
    "Prediction",
    "get_task",
    "Trainer",
    "TrainResult",
    "TrainingDiverged",
]
