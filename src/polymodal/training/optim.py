"""Optimiser groups and the learning-rate schedule.

Weight decay follows nanoGPT: tensors with two or more dimensions (matmul and conv weights)
decay; biases, norms and the names a module lists in ``no_weight_decay()`` (positions,
special tokens, the logit scale) do not. Frozen parameters are left out entirely.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from polymodal.training.config import OptimizerConfig, ScheduleConfig

__all__ = ["lr_scales", "no_weight_decay_names", "param_groups", "build_optimizer", "WarmupCosine", "build_scheduler"]


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """Full parameter names excluded from decay by any submodule's ``no_weight_decay()``."""
    names: set[str] = set()
    for prefix, module in model.named_modules():
        hook = getattr(module, "no_weight_decay", None)
        if callable(hook):
            names.update(f"{prefix}.{n}" if prefix else n for n in hook())
    return names


def lr_scales(model: nn.Module) -> dict[str, float]:
    """Full parameter names → learning-rate factor, from any submodule's ``lr_scales()``
    (a pretrained encoder tuned at a fraction of the rate of the layers trained from scratch)."""
    scales: dict[str, float] = {}
    for prefix, module in model.named_modules():
        hook = getattr(module, "lr_scales", None)
        if callable(hook):
            scales.update({f"{prefix}.{n}" if prefix else n: float(s) for n, s in hook().items()})
    return scales


def param_groups(model: nn.Module, weight_decay: float, lr: float | None = None) -> list[dict]:
    """AdamW groups over the trainable parameters: decayed and not decayed, and, where a
    module names learning-rate factors (``lr_scales()``) and ``lr`` is given, one pair per factor."""
    skip = no_weight_decay_names(model)
    scales = lr_scales(model) if lr is not None else {}
    groups: dict[tuple[bool, float], list] = {(True, 1.0): [], (False, 1.0): []}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        key = (param.ndim >= 2 and name not in skip, scales.get(name, 1.0))
        groups.setdefault(key, []).append(param)
    out = []
    for (decays, scale), params in groups.items():
        group = {"params": params, "weight_decay": weight_decay if decays else 0.0}
        if scale != 1.0:
            group["lr"] = lr * scale
        out.append(group)
    return out


def build_optimizer(model: nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    groups = [g for g in param_groups(model, config.weight_decay, config.lr) if g["params"]]
    # foreach=False: the per-tensor loop is the same code path on every run, which keeps CPU results repeatable.
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=config.eps, foreach=False)


class WarmupCosine:
    """``lr(step) / base_lr``: linear warm-up over ``warmup`` steps, then a cosine to ``min_ratio``.

    A plain callable object (not a lambda) so that the scheduler pickles and its state saves.
    """

    def __init__(self, total_steps: int, warmup: int, min_ratio: float, cosine: bool = True) -> None:
        self.total_steps = total_steps
        self.warmup = warmup
        self.min_ratio = min_ratio
        self.cosine = cosine

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if not self.cosine:
            return 1.0
        span = max(1, self.total_steps - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, config: ScheduleConfig, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    factor = WarmupCosine(total_steps, config.warmup_steps, config.min_lr_ratio, cosine=config.name == "cosine")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
