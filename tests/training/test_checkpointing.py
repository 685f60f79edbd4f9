"""Atomic checkpoints: complete or absent, pruning keeps the last K and the best, strict loading."""

from pathlib import Path

import pytest
import torch
from torch import nn

from polymodal.errors import CheckpointError
from polymodal.training.checkpointing import (
    capture_rng,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
    write_best,
)


def test_save_load_round_trip_and_frozen_parameters_left_out(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
    net[2].requires_grad_(False)
    info = save_checkpoint(tmp_path, 7, net, {"hello": torch.tensor(1)})
    assert info.path.name == "step_00000007"
    other = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
    other[2].requires_grad_(False)
    state = load_checkpoint(info, other)
    assert state["step"] == 7 and int(state["hello"]) == 1
    assert torch.equal(other[0].weight, net[0].weight) and torch.equal(other[1].running_mean, net[1].running_mean)
    assert not torch.equal(other[2].weight, net[2].weight)  # frozen: rebuilt from the config, not stored


def test_leftover_temporary_directory_is_not_a_checkpoint(tmp_path: Path) -> None:
    net = nn.Linear(2, 2)
    save_checkpoint(tmp_path, 1, net, {})
    (tmp_path / ".tmp-step_00000002-123").mkdir()
    assert latest_checkpoint(tmp_path).step == 1
    prune_checkpoints(tmp_path, keep_last=3)
    assert not (tmp_path / ".tmp-step_00000002-123").exists()


def test_prune_keeps_last_k_and_best(tmp_path: Path) -> None:
    net = nn.Linear(2, 2)
    for step in (1, 2, 3, 4, 5):
        save_checkpoint(tmp_path, step, net, {})
    write_best(tmp_path, 2, "accuracy", 0.9)
    prune_checkpoints(tmp_path, keep_last=2)
    assert [c.step for c in list_checkpoints(tmp_path)] == [2, 4, 5]


def test_mismatched_checkpoint_is_refused(tmp_path: Path) -> None:
    info = save_checkpoint(tmp_path, 1, nn.Linear(2, 2), {})
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(info, nn.Sequential(nn.Linear(2, 2)))


def test_rng_capture_and_restore_replays_every_stream() -> None:
    import random

    import numpy as np

    state = capture_rng()
    first = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(state)
    second = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1]) and first[2] == second[2]
