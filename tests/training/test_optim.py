"""Optimiser groups (nanoGPT-style decay) and the warm-up + cosine schedule."""

import torch
from torch import nn

from polymodal.training.config import OptimizerConfig, ScheduleConfig
from polymodal.training.optim import build_optimizer, build_scheduler, param_groups


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.pos_embed = nn.Parameter(torch.zeros(1, 3, 4))
        self.frozen = nn.Linear(4, 4).requires_grad_(False)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed"}


def test_only_trainable_matrices_decay_and_exceptions_are_honoured() -> None:
    net = _Net()
    decay, no_decay = param_groups(net, 0.1)
    assert decay["params"] == [net.linear.weight] and decay["weight_decay"] == 0.1
    assert {id(p) for p in no_decay["params"]} == {id(net.linear.bias), id(net.norm.weight), id(net.norm.bias), id(net.pos_embed)}
    assert no_decay["weight_decay"] == 0.0


def test_warmup_then_cosine_to_min_ratio() -> None:
    opt = build_optimizer(_Net(), OptimizerConfig(lr=1.0))
    sched = build_scheduler(opt, ScheduleConfig(warmup_steps=4, min_lr_ratio=0.1), total_steps=14)
    lrs = []
    for _ in range(14):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))
    assert abs(opt.param_groups[0]["lr"] - 0.1) < 1e-9
