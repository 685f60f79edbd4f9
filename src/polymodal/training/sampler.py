"""A resumable, DDP-aware sampler of global batches over an in-memory training set.

Every epoch is a fresh permutation drawn from a generator seeded with ``(seed, epoch)``,
so the whole data order is a pure function of ``(seed, epoch, position)``: the state
saved in a checkpoint is those three integers and resuming replays the same batches.
All ranks draw the same global batch and each takes its contiguous slice, so N processes
see exactly the samples one process would see with the same global batch size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from polymodal.errors import InputError

__all__ = ["GlobalBatchSampler", "SamplerState"]


@dataclass
class SamplerState:
    seed: int
    epoch: int = 0
    position: int = 0


class GlobalBatchSampler:
    """Draws global batches of indices ``[batch]`` without replacement within an epoch.

    Args:
        size: number of samples in the training set.
        seed: base seed of the epoch permutations.
        rank, world_size: this process's slice of every global batch.
    """

    def __init__(self, size: int, seed: int, *, rank: int = 0, world_size: int = 1) -> None:
        if size <= 0:
            raise InputError("training set", "at least one sample", size)
        self.size = size
        self.rank = rank
        self.world_size = world_size
        self.state = SamplerState(seed=seed)
        self._perm = self._permutation(0)

    def _permutation(self, epoch: int) -> Tensor:
        gen = torch.Generator().manual_seed(self.state.seed * 1_000_003 + epoch)
        return torch.randperm(self.size, generator=gen)

    def next_global(self, batch: int) -> Tensor:
        """The next ``batch`` indices of the global stream (crossing epochs as needed)."""
        parts = []
        need = batch
        while need > 0:
            take = min(need, self.size - self.state.position)
            parts.append(self._perm[self.state.position : self.state.position + take])
            self.state.position += take
            need -= take
            if self.state.position == self.size:
                self.state.epoch += 1
                self.state.position = 0
                self._perm = self._permutation(self.state.epoch)
        return torch.cat(parts)

    def next_local(self, batch: int) -> Tensor:
        """This rank's slice of the next global batch of size ``batch`` (divisible by world size)."""
        if batch % self.world_size != 0:
            raise InputError("training.batch_size", f"a multiple of the world size {self.world_size}", batch)
        indices = self.next_global(batch)
        per = batch // self.world_size
        return indices[self.rank * per : (self.rank + 1) * per]

    def state_dict(self) -> dict[str, int]:
        return asdict(self.state)

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.state = SamplerState(**{k: int(v) for k, v in state.items()})
        self._perm = self._permutation(self.state.epoch)
