"""The main job: digits-av with a frozen MiniLM Meta-Transformer (task, features, report)."""

from polymodal.training.digits_av.task import DigitsAVTask

__all__ = ["DigitsAVTask"]
