"""What every objective shares: the :data:`OBJECTIVES` registry and the output dataclass.

An objective maps model outputs and targets to one scalar ``loss`` plus named terms and
metrics (open_clip's loss dicts, TorchMultimodal's ``ContrastiveLossOutput``), always as
one dataclass so that no caller branches on a tuple-or-dict switch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from polymodal.heads.base import construct
from polymodal.registry import Registry

__all__ = ["OBJECTIVES", "ObjectiveOutput", "build_objective"]

#: Objectives by name (``"infonce"``, ``"mlm"``, ``"masked_patch"``, ``"matching"``, ``"captioning"``).
OBJECTIVES: Registry[type] = Registry(
    "objective",
    group="polymodal.objectives",
    builtins=tuple(
        f"polymodal.objectives.{m}" for m in ("captioning", "classification", "contrastive", "masked_patch", "matching", "mlm")
    ),
    base=nn.Module,
)


@dataclass
class ObjectiveOutput:
    """One objective's result.

    Attributes:
        loss: scalar tensor to back-propagate.
        terms: named scalar parts whose (weighted) sum is ``loss``.
        metrics: named detached scalars for logging (accuracy, temperature, ...).
    """

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)
    metrics: dict[str, Tensor] = field(default_factory=dict)


def build_objective(name: str, /, *args: Any, **kwargs: Any) -> nn.Module:
    """The objective registered as ``name``: ``build_objective("infonce", pairs="anchor", anchor="image")``."""
    return construct(OBJECTIVES.get(name, field="objective"), f"objective.{name}", *args, **kwargs)
