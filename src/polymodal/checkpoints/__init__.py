"""Saving and loading models (``io``) and converters from other codebases' checkpoints."""

from polymodal.checkpoints.io import (
    MODELS,
    LoadReport,
    PretrainedModel,
    apply_state_dict,
    atomic_write,
    load,
    load_state_dict,
)

__all__ = ["MODELS", "LoadReport", "PretrainedModel", "apply_state_dict", "atomic_write", "load", "load_state_dict"]
