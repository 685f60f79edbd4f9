"""What every head shares: the :data:`HEADS` registry and the linear-or-MLP builder.

A head is Meta-Transformer's ``h``: it maps pooled features ``[B, D]`` or per-token
features ``[B, N, D]`` to task outputs. Heads return tensors; objectives turn them into
losses.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from polymodal.encoder.block import Activation, make_activation
from polymodal.errors import ConfigError
from polymodal.registry import Registry

__all__ = ["HEADS", "build_head", "construct", "linear_or_mlp"]

#: Heads by name (``"classification"``, ``"regression"``, ``"projection"``, ``"mlm"``, ``"patch_reconstruction"``).
HEADS: Registry[type] = Registry(
    "head",
    group="polymodal.heads",
    builtins=tuple(f"polymodal.heads.{m}" for m in ("classification", "mlm", "patch_reconstruction", "projection", "regression")),
    base=nn.Module,
)


def linear_or_mlp(
    in_dim: int,
    out_dim: int,
    hidden_dim: int | None = None,
    *,
    activation: Activation = "gelu",
    dropout: float = 0.0,
    bias: bool = True,
) -> nn.Module:
    """``Linear(in, out)`` or, with ``hidden_dim``, ``Linear → act → dropout → Linear``.

    Works on any leading shape (``[B, D]`` or ``[B, N, D]``).
    """
    for name, value in (("in_dim", in_dim), ("out_dim", out_dim)):
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"head.{name}", "a positive integer", repr(value))
    if hidden_dim is None:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim, bias=bias))
    if not isinstance(hidden_dim, int) or hidden_dim <= 0:
        raise ConfigError("head.hidden_dim", "a positive integer or None", repr(hidden_dim))
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(in_dim, hidden_dim),
        make_activation(activation),
        nn.Dropout(dropout),
        nn.Linear(hidden_dim, out_dim, bias=bias),
    )


def construct(cls: type, field: str, *args: Any, **kwargs: Any) -> Any:
    """``cls(*args, **kwargs)``, with a :class:`ConfigError` naming ``field`` for unknown or missing arguments."""
    try:
        inspect.signature(cls).bind(*args, **kwargs)
    except TypeError as error:
        params = [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]
        raise ConfigError(field, f"arguments among {params}", str(error)) from None
    return cls(*args, **kwargs)


def build_head(name: str, /, *args: Any, **kwargs: Any) -> nn.Module:
    """The head registered as ``name``: ``build_head("classification", 768, 10, hidden_dim=512)``."""
    return construct(HEADS.get(name, field="head"), f"head.{name}", *args, **kwargs)
