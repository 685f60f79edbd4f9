"""Training: strict run configs, the resumable DDP-aware trainer, atomic checkpoints."""

from polymodal.training.config import RunConfig, load_config
from polymodal.training.tasks import TASKS, LossOutput, TrainingTask, get_task
from polymodal.training.trainer import Trainer, TrainingDiverged, TrainResult

__all__ = ["RunConfig", "load_config", "TASKS", "LossOutput", "TrainingTask", "get_task", "Trainer", "TrainResult", "TrainingDiverged"]
