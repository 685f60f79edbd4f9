"""Run configurations: YAML → strict, typed pydantic objects, with ``key.sub=value`` overrides.

A run config has one section per concern (``model``, ``data``, ``optimizer``, ``schedule``,
``training``, ``logging``). Unknown keys and bad values raise :class:`ConfigError` naming
the dotted path, what was expected and what came (``optimizer.lr: expected a positive
number, got -1``). ``model`` and ``data`` are validated by the registered training task
(:mod:`polymodal.training.tasks`), whose own pydantic models are just as strict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, Field

from polymodal.configurable import StrictModel, parse_section, show_value

from polymodal.errors import ConfigError

__all__ = [
    "StrictModel",
    "OptimizerConfig",
    "ScheduleConfig",
    "CheckpointConfig",
    "TrainingConfig",
    "LoggingConfig",
    "RunConfig",
    "read_config",
    "parse_section",
    "apply_overrides",
    "config_to_yaml",
]

M = TypeVar("M", bound=BaseModel)


class OptimizerConfig(StrictModel):
    """AdamW with nanoGPT-style groups: only tensors with ≥ 2 dimensions decay."""

    name: Literal["adamw"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.01, ge=0)


class ScheduleConfig(StrictModel):
    """Learning-rate schedule: linear warm-up to ``optimizer.lr``, then cosine (or constant)."""

    name: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    # The cosine ends at lr * min_lr_ratio rather than 0 so the last steps still move.
    min_lr_ratio: float = Field(0.0, ge=0, le=1)


class CheckpointConfig(StrictModel):
    """When checkpoints are written and which are kept."""

    # Write a checkpoint every N optimiser steps (and always at the end); None = only at the end.
    every: int | None = Field(None, gt=0)
    keep_last: int = Field(2, gt=0)
    # Keep the checkpoint with the best value of this eval metric under checkpoints/best.
    best_metric: str | None = None
    best_mode: Literal["max", "min"] = "max"


class TrainingConfig(StrictModel):
    """The optimisation loop."""

    steps: int = Field(100, gt=0)
    # Global batch size (summed over processes and accumulation micro-steps).
    batch_size: int = Field(32, gt=0)
    grad_accum: int = Field(1, gt=0)
    # Clip the global gradient norm to this; None disables clipping.
    clip_grad_norm: float | None = Field(1.0, gt=0)
    # bf16 autocast where the device supports it; master weights stay fp32.
    precision: Literal["fp32", "bf16"] = "fp32"
    seed: int = 0
    # Run the task's evaluation every N steps (needed for best_metric); None = never during training.
    eval_every: int | None = Field(None, gt=0)
    checkpoint: CheckpointConfig = CheckpointConfig()
    # Evaluate and export an exponential moving average of the weights with this decay; None = the raw weights.
    ema_decay: float | None = Field(None, gt=0, lt=1)
    # Torch intra-op threads; None leaves torch's default. Fixed thread counts keep CPU runs repeatable.
    threads: int | None = Field(None, gt=0)


class LoggingConfig(StrictModel):
    """Where and how often the run reports."""

    log_every: int = Field(10, gt=0)
    # TensorBoard event files; None: when tensorboard is installed (the 'plots' extra).
    tensorboard: bool | None = None
    progress: bool = True


class RunConfig(StrictModel):
    """A whole run. ``task`` names a registered training task that owns ``model`` and ``data``."""

    task: str
    output_dir: str = "runs/run"
    model: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    training: TrainingConfig = TrainingConfig()
    logging: LoggingConfig = LoggingConfig()


# --- overrides and loading -----------------------------------------------------------------

def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("override", "key.sub=value", repr(item))
        try:
            value = yaml.safe_load(text) if text != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError(key, "a YAML value", repr(text), hint=str(exc).splitlines()[0]) from None
        node = raw
        parts = key.strip().split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(".".join(parts[: i + 1]), "a mapping to set a sub-key in", show_value(child))
            node = child
        node[parts[-1]] = value
    return raw


def read_config(source: str | Path | Mapping[str, Any], overrides: Iterable[str] = ()) -> RunConfig:
    """Read a YAML file (or take a dict), apply overrides and validate the run's own sections;
    :func:`polymodal.training.tasks.load_config` also validates the task's ``model``/``data``."""
    if isinstance(source, Mapping):
        raw = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError("config", "an existing YAML file", str(path))
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(str(path), "valid YAML", None, hint=str(exc)) from None
        if not isinstance(raw, dict):
            raise ConfigError(str(path), "a mapping at the top level", type(raw).__name__)
    import copy

    raw = apply_overrides(copy.deepcopy(raw), overrides)
    return parse_section(RunConfig, raw)


def config_to_yaml(config: RunConfig) -> str:
    """The resolved config (every default filled in) as YAML."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
