"""Training: strict run configs, the resumable DDP-aware trainer, atomic checkpoints."""

from polymodal.training.config import RunConfig
from polymodal.training.tasks import TASKS, TrainingTask, get_task, load_config
from polymodal.training.trainer import Trainer, TrainingDiverged, TrainResult

__all__ = ["RunConfig", "load_config", "TASKS", "TrainingTask", "get_task", "Trainer", "TrainResult", "TrainingDiverged"]
