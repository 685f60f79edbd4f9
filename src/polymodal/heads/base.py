"""What every head shares: the :data:`HEADS` registry and the linear-or-MLP builder.

A head is Meta-Transformer's ``h``: it maps pooled features ``[B, D]`` or per-token
features ``[B, N, D]`` to task outputs. Heads return tensors; objectives turn them into
losses.
"""

from __future__ import annotations

from torch import nn

from polymodal.encoder.block import Activation, make_activation
from polymodal.errors import ConfigError
from polymodal.registry import Registry

__all__ = ["HEADS", "linear_or_mlp"]

#: Heads by name (``"classification"``, ``"regression"``, ``"projection"``, ``"mlm"``, ``"patch_reconstruction"``).
HEADS: Registry[type] = Registry("head")


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
