"""Run configurations: YAML → strict, typed pydantic objects, with ``key.sub=value`` overrides.

A run config has one section per concern (``model``, ``data``, ``optimizer``, ``schedule``,
``training``, ``logging``). Unknown keys and bad values raise :class:`ConfigError` naming
the dotted path, what was expected and what came (``optimizer.lr: expected a positive
number, got -1``). ``model`` and ``data`` are validated by the registered training task
(:mod:`polymodal.training.tasks`), whose own pydantic models are just as strict.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError

from polymodal.configurable import StrictModel, config_error, parse_section, show_value

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
    "load_yaml",
    "check_options",
    "config_field",
    "parse_section",
    "apply_overrides",
    "config_to_yaml",
]

M = TypeVar("M", bound=BaseModel)


class OptimizerConfig(StrictModel):
    """AdamW with nanoGPT-style groups: only tensors with ≥ 2 dimensions decay."""

    name: Literal["adamw"] = "adamw"
    lr: float = Field(1e-3, gt=0, allow_inf_nan=False)
    # Adam's moment decays: each in [0, 1), as torch.optim.AdamW requires.
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0, allow_inf_nan=False)
    weight_decay: float = Field(0.01, ge=0, allow_inf_nan=False)


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
    clip_grad_norm: float | None = Field(1.0, gt=0, allow_inf_nan=False)
    # bf16 autocast where the device supports it; master weights stay fp32.
    precision: Literal["fp32", "bf16"] = "fp32"
    # torch, numpy and Python are all seeded from it: a 63-bit non-negative integer.
    seed: int = Field(0, ge=0, lt=2**63)
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
            value = load_yaml(text, key) if text != "" else ""
        except ConfigError as exc:
            raise ConfigError(key, "a YAML value", repr(text), hint=exc.hint) from None
        node = raw
        parts = key.strip().split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(".".join(parts[: i + 1]), "a mapping to set a sub-key in", show_value(child))
            node = child
        node[parts[-1]] = value
    return raw


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping (YAML says keys are
    unique; PyYAML silently keeps the last, so a config could say two things at once)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # keys merged in with '<<' may be overridden: that is what merging is for
        key, line = loader.construct_object(key_node, deep=True), key_node.start_mark.line + 1
        try:
            first = seen.get(key)
        except TypeError:
            raise ConfigError(f"{getattr(loader, 'source', 'config')}, line {line}", "a plain mapping key", type(key).__name__) from None
        if first is not None:
            raise ConfigError(
                f"{getattr(loader, 'source', 'config')}, line {line}", "each key once per mapping (configs are strict)",
                f"{key!r} again (first on line {first})",
            )
        seen[key] = line
    return loader.construct_mapping_plain(node, deep=deep)


_StrictLoader.construct_mapping_plain = yaml.SafeLoader.construct_mapping  # type: ignore[attr-defined]
_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, source: str = "config") -> Any:
    """YAML ``text`` with the strict loader; errors are :class:`ConfigError` naming ``source``."""
    loader = _StrictLoader(text)
    loader.source = source  # type: ignore[attr-defined]
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(source, "valid YAML", None, hint=" ".join(str(exc).split())) from None
    except RecursionError:
        raise ConfigError(source, "YAML nested less deeply", "nesting too deep") from None
    finally:
        loader.dispose()


def read_config(source: str | Path | Mapping[str, Any], overrides: Iterable[str] = ()) -> RunConfig:
    """Read a YAML file (or take a dict), apply overrides and validate the run's own sections;
    :func:`polymodal.training.tasks.load_config` also validates the task's ``model``/``data``."""
    if isinstance(source, Mapping):
        raw = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            got = "a folder" if path.is_dir() else "no such file"
            raise ConfigError(str(path), "an existing YAML file", got)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(str(path), "a UTF-8 text file", f"a byte 0x{exc.object[exc.start]:02x} that is not UTF-8 at offset {exc.start}") from None
        raw = load_yaml(text, str(path)) or {}
        if not isinstance(raw, dict):
            raise ConfigError(str(path), "a mapping at the top level", type(raw).__name__)
    import copy

    raw = apply_overrides(copy.deepcopy(raw), overrides)
    return parse_section(RunConfig, raw)


@contextlib.contextmanager
def config_field(prefix: str, sections: Mapping[str, Iterable[str]] | None = None) -> Iterator[None]:
    """Errors that a part's constructor raises about its own argument (``num_mel_bins:
    expected a positive integer``) are re-raised as :class:`ConfigError` under the dotted
    config path that set it (``data.transforms.audio.num_mel_bins``); a TypeError or
    ValueError from deeper inside names ``prefix``. ``sections`` maps a sub-section to the
    option names it holds, so that ``depth`` from ``fusion_options`` is named
    ``model.fusion_options.depth``."""
    from polymodal.errors import CheckpointError, InputError

    try:
        yield
    except CheckpointError:
        raise
    except (ConfigError, InputError) as exc:
        if not re.fullmatch(r"[A-Za-z_][\w.]*", exc.field):
            raise  # about a file ("data/m.jsonl, line 3"), not about an option
        placed = exc.field.split(".")[0] in RunConfig.model_fields  # already a dotted config path
        leaf = exc.field.split(".")[-1]
        section = next((name for name, keys in (sections or {}).items() if leaf in set(keys)), None)
        field = exc.field if placed else ".".join(p for p in (prefix, section, leaf) if p)
        raise ConfigError(field, exc.expected, exc.got, hint=exc.hint) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(prefix, "options its constructor accepts", f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None


def check_options(target: Any, options: Mapping[str, Any], field: str, skip: Iterable[str] = ()) -> None:
    """Raise :class:`ConfigError` at ``field.<key>`` for an option ``target`` (a class or
    function) does not take, listing the ones it does, or for a value its typed config
    refuses (``model.tokenizers.image.options.patch_size: expected an integer``); ``skip``
    names arguments the caller fills in itself (a tokenizer's ``dim``). Options are checked
    one by one, so that those the model fills in later need not be given."""
    import inspect

    from pydantic import TypeAdapter

    config_class = getattr(target, "config_class", None)
    if isinstance(config_class, type) and issubclass(config_class, BaseModel):
        fields = {n: f for n, f in config_class.model_fields.items() if n not in set(skip)}
        for key, value in options.items():
            if key not in fields:
                name = getattr(target, "__name__", str(target))
                raise ConfigError(f"{field}.{key}", f"an option of {name} (one of {', '.join(fields) or 'none'})", "an unknown option")
            info = fields[key]
            try:
                hint = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
                TypeAdapter(hint).validate_python(value)
            except ValidationError as exc:
                error = config_error(exc, f"{field}.{key}", config_class)
                raise ConfigError(f"{field}.{key}", error.expected, error.got) from None
        return
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in set(skip) and n != "self"]
    for key in options:
        if key not in known:
            name = getattr(target, "__name__", str(target))
            raise ConfigError(f"{field}.{key}", f"an option of {name} (one of {', '.join(known) or 'none'})", "an unknown option")


def config_to_yaml(config: RunConfig) -> str:
    """The resolved config (every default filled in) as YAML."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
