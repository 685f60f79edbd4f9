"""Exceptions raised by polymodal.

Every error names the field (argument, config path, file or checkpoint key), what was
expected and what came, so that a user can fix the input without reading the source.
They subclass ``ValueError``/``RuntimeError`` where that is the natural builtin, so code
that already catches those keeps working.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PolymodalError", "InputError", "NoSignal", "ConfigError", "CheckpointError", "MissingDependency", "describe"]


def describe(value: Any) -> str:
    """A short, human-readable description of ``value`` for error messages.

    Tensors and arrays are described by shape and dtype rather than printed.
    """
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{type(value).__name__} of shape {list(shape)} and dtype {dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class PolymodalError(Exception):
    """Base class of every error polymodal raises on purpose."""


class _FieldError(PolymodalError):
    """An error about one named field: ``"{field}: expected {expected}, got {got}"``."""

    def __init__(self, field: str, expected: str, got: Any = None, *, hint: str | None = None) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        self.hint = hint
        message = f"{field}: expected {expected}"
        if got is not None:
            message += f", got {got if isinstance(got, str) else describe(got)}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class InputError(_FieldError, ValueError):
    """Bad data given to a reader, transform, tokenizer, model or function argument."""


class NoSignal(InputError):
    """An input that holds nothing to classify (digital silence, a constant, a level far below
    any real recording): the honest answer is "I don't know", not a class."""


class ConfigError(_FieldError, ValueError):
    """A bad run or model configuration; ``field`` is the dotted config path."""


class CheckpointError(_FieldError, RuntimeError):
    """A checkpoint that cannot be loaded safely or does not match the model."""


class MissingDependency(_FieldError, ImportError):
    """An optional package that a feature needs is not installed; names the extra to install."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(module, f"the '{extra}' extra installed (pip install 'polymodal[{extra}]')", "not installed")
        self.extra = extra
