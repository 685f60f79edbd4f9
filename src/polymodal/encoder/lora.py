"""LoRA: low-rank adapters on a frozen encoder's linear layers (Hu et al., 2021).

A linear layer ``y = W x + b`` becomes ``y = W x + b + (alpha / r) · B A x`` with ``A [r, in]``
and ``B [out, r]`` trained and ``W``, ``b`` kept. ``B`` starts at zero, so an adapted encoder
begins exactly as the pretrained one. :class:`LoRALinear` is an ``nn.Linear`` that keeps its
parameter names (``attn.qkv.weight``) and adds ``lora_a`` and ``lora_b`` beside them, so a
pretrained checkpoint still loads into it and the adapters are saved as two extra tensors
per layer. The targets are timm's names for the block's layers (``qkv``, ``proj``, ``fc1``,
``fc2``), the same that ``peft.LoraConfig(target_modules=...)`` takes.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pydantic import Field

from polymodal.configurable import Config
from polymodal.errors import ConfigError

__all__ = ["LoRAConfig", "LoRALinear", "apply_lora", "lora_config", "merge_lora"]


class LoRAConfig(Config):
    """Rank ``r``, scale ``alpha`` (the update is scaled by ``alpha / r``) and the layer names to adapt."""

    field_prefix: ClassVar[str] = "lora"

    r: int = Field(8, ge=1)
    alpha: float = Field(16.0, gt=0)
    # timm's names of a block's linear layers (qkv, proj, fc1, fc2).
    targets: tuple[str, ...] = Field(("qkv", "proj", "fc1", "fc2"), min_length=1)


class LoRALinear(nn.Linear):
    """``nn.Linear`` plus a rank-``r`` update ``(alpha / r) · x Aᵀ Bᵀ``.

    Inputs: ``x [..., in]``. Returns ``[..., out]``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, r: int = 8, alpha: float = 16.0) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.r, self.alpha, self.scale = r, alpha, alpha / r
        self.lora_a = nn.Parameter(torch.empty(r, in_features))
        self.lora_b = nn.Parameter(torch.zeros(out_features, r))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # as nn.Linear and peft initialise A

    @classmethod
    def from_linear(cls, linear: nn.Linear, *, r: int, alpha: float) -> LoRALinear:
        """An adapted copy of ``linear`` sharing its weight and bias tensors."""
        out = cls(linear.in_features, linear.out_features, linear.bias is not None, r=r, alpha=alpha)
        out.to(device=linear.weight.device, dtype=linear.weight.dtype)
        out.weight = linear.weight
        out.bias = linear.bias
        return out

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias) + F.linear(F.linear(x, self.lora_a), self.lora_b) * self.scale

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` computing the same function (``W + (alpha / r) B A``)."""
        out = nn.Linear(self.in_features, self.out_features, self.bias is not None)
        out.to(device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.weight + self.scale * self.lora_b @ self.lora_a)
            if self.bias is not None:
                out.bias.copy_(self.bias)
        return out

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, r={self.r}, alpha={self.alpha}"


def apply_lora(module: nn.Module, config: LoRAConfig) -> nn.Module:
    """Replace every ``nn.Linear`` of ``module`` whose own name is in ``config.targets`` by a
    :class:`LoRALinear` (in place); freeze every other parameter. Returns ``module``."""
    if lora_config(module) is not None:
        raise ConfigError("lora", "a module without adapters", "one that already has LoRA layers")
    found = [
        (parent, child_name, child)
        for parent in module.modules()
        for child_name, child in parent.named_children()
        if child_name in config.targets and type(child) is nn.Linear
    ]
    if not found:
        raise ConfigError("lora.targets", "names of linear layers in the module", list(config.targets))
    for p in module.parameters():
        p.requires_grad_(False)
    for parent, child_name, child in found:
        setattr(parent, child_name, LoRALinear.from_linear(child, r=config.r, alpha=config.alpha))
    return module


def lora_config(module: nn.Module) -> LoRAConfig | None:
    """The :class:`LoRAConfig` of the adapters in ``module``, or ``None`` when it has none."""
    layers = {name.rsplit(".", 1)[-1]: m for name, m in module.named_modules() if isinstance(m, LoRALinear)}
    if not layers:
        return None
    first = next(iter(layers.values()))
    return LoRAConfig(r=first.r, alpha=first.alpha, targets=tuple(sorted(layers)))


def merge_lora(module: nn.Module) -> nn.Module:
    """Fold every :class:`LoRALinear` of ``module`` into a plain ``nn.Linear`` (in place)."""
    for parent in list(module.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                setattr(parent, child_name, child.merged())
    return module
