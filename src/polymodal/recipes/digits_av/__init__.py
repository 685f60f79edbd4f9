"""The main job: digits-av with a frozen MiniLM Meta-Transformer (task, features, report)."""

from polymodal.recipes.digits_av.task import DigitsAVTask

__all__ = ["DigitsAVTask"]
