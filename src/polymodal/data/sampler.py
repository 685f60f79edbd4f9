"""``ResumableSampler``: a seeded, DDP-aware sampler whose position can be saved and restored.

After a kill, a trainer restores the sampler's state and the data continue exactly where
they stopped: the order of an epoch is a pure function of ``(seed, epoch)``, and the
state records how far into it this rank has consumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Sampler

from polymodal.errors import CheckpointError, ConfigError

__all__ = ["ResumableSampler"]


class ResumableSampler(Sampler[int]):
    """Indices of one rank's shard of a (shuffled) epoch, from a saved position on.

    The epoch's global order is ``torch.randperm(num_samples)`` drawn from a
    ``torch.Generator`` seeded with ``seed + epoch`` (or ``0..n-1`` without shuffling).
    With ``world_size > 1`` it is padded by repeating its start (or, with ``drop_last``,
    cut) to a multiple of ``world_size``, and rank ``r`` takes every ``world_size``-th
    index from ``r`` on: the shards are disjoint and together cover the epoch, as with
    ``torch.utils.data.DistributedSampler``.

    Args:
        num_samples: the dataset's length.
        shuffle: shuffle each epoch.
        seed: the shuffling seed, shared by every rank.
        rank, world_size: this process's shard.
        drop_last: cut the order to a multiple of ``world_size`` instead of padding it.

    :attr:`position` counts the indices of this epoch already consumed on this rank; the
    loader advances it as batches are handed out (not as workers prefetch them).
    """

    def __init__(
        self,
        num_samples: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ) -> None:
        if num_samples < 1:
            raise ConfigError("num_samples", "at least one sample", num_samples)
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError("rank", f"0 <= rank < world_size ({world_size})", rank)
        if drop_last and num_samples < world_size:
            raise ConfigError("drop_last", f"at least world_size ({world_size}) samples to drop to", num_samples)
        self.num_samples = num_samples
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0
        self.position = 0

    # --- the order -------------------------------------------------------------------
    @property
    def shard_size(self) -> int:
        """Indices per rank per epoch."""
        if self.drop_last:
            return self.num_samples // self.world_size
        return -(-self.num_samples // self.world_size)

    def epoch_order(self, epoch: int | None = None) -> list[int]:
        """This rank's whole order for ``epoch`` (default: the current one)."""
        epoch = self.epoch if epoch is None else epoch
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            order = torch.randperm(self.num_samples, generator=generator)
        else:
            order = torch.arange(self.num_samples)
        total = self.shard_size * self.world_size
        if total > self.num_samples:
            order = order.repeat(-(-total // self.num_samples))  # pad: a few samples twice
        return order[:total][self.rank :: self.world_size].tolist()

    def __iter__(self) -> Iterator[int]:
        # Captured now: advancing the position while iterating does not skip indices.
        return iter(self.epoch_order()[self.position :])

    def __len__(self) -> int:
        """Indices left in this epoch on this rank."""
        return self.shard_size - self.position

    # --- position --------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its beginning."""
        self.epoch = int(epoch)
        self.position = 0

    def advance(self, count: int) -> None:
        """Record that ``count`` more indices of this epoch were consumed."""
        self.position = min(self.position + int(count), self.shard_size)

    def state_dict(self) -> dict[str, Any]:
        """A JSON-able state: where this rank is in which epoch, and what defines the order."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "num_samples": self.num_samples,
            "world_size": self.world_size,
            "rank": self.rank,
            "drop_last": self.drop_last,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``; the order-defining settings must match this sampler's."""
        for key in ("seed", "shuffle", "num_samples", "world_size", "drop_last"):
            if key in state and state[key] != getattr(self, key):
                raise CheckpointError(
                    f"sampler.{key}", f"{getattr(self, key)!r} (this sampler's)", f"{state[key]!r} in the saved state",
                    hint="resume with the same dataset, seed and world size",
                )  # fmt: skip
        position = int(state["position"])
        if not 0 <= position <= self.shard_size:
            raise CheckpointError("sampler.position", f"0..{self.shard_size}", position)
        self.epoch = int(state["epoch"])
        self.position = position
