"""``build_loader``: a DataLoader over a dataset with seeded, resumable, DDP-aware sampling.

The returned :class:`ResumableLoader` iterates like a DataLoader, moves to the next epoch
by itself when one is exhausted, and saves/restores its position with
``state_dict()``/``load_state_dict()``::

    loader = build_loader(dataset, batch_size=128, seed=0, num_workers=2)
    for epoch in range(3):
        for batch in loader:
            ...
            if step % 100 == 0:
                save({"model": ..., "data": loader.state_dict()})
    # after a restart
    loader.load_state_dict(saved["data"])   # the next batch is the one that would have come
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from polymodal.data.collate import ManifestCollate
from polymodal.data.dataset import ManifestDataset
from polymodal.data.sampler import ResumableSampler
from polymodal.errors import ConfigError

__all__ = ["ResumableLoader", "build_loader", "seed_worker"]


def seed_worker(worker_id: int) -> None:
    """Seed numpy and ``random`` in a worker from torch's per-worker seed (random transforms)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class ResumableLoader:
    """A DataLoader plus its :class:`ResumableSampler`, counting the batches it hands out.

    Positions advance when a batch reaches the caller, not when workers prefetch it, so a
    state saved between two batches resumes at the next one.
    """

    def __init__(self, loader: DataLoader, sampler: ResumableSampler) -> None:
        self.loader = loader
        self.sampler = sampler

    def __iter__(self) -> Iterator[Any]:
        epoch = self.sampler.epoch
        size = self.loader.batch_size or 1
        for batch in self.loader:
            # Batches come in the sampler's order, each full but perhaps the last: counting
            # them needs no knowledge of the batch's structure.
            self.sampler.advance(min(size, len(self.sampler)))
            yield batch
        # Reached only when the epoch is exhausted (not when the caller breaks out).
        self.sampler.set_epoch(epoch + 1)

    def __len__(self) -> int:
        """Batches left in this epoch."""
        left = len(self.sampler)
        size = self.loader.batch_size or 1
        return left // size if self.loader.drop_last else -(-left // size)

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    @property
    def dataset(self) -> Dataset:
        return self.loader.dataset

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])


def _distributed_defaults(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is not None and world_size is not None:
        return rank, world_size
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return (
            torch.distributed.get_rank() if rank is None else rank,
            torch.distributed.get_world_size() if world_size is None else world_size,
        )
    return rank or 0, world_size or 1


def build_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
    rank: int | None = None,
    world_size: int | None = None,
    collate: Callable[[list[Any]], Any] | None = None,
    pin_memory: bool = False,
    persistent_workers: bool = False,
    prefetch_factor: int | None = None,
) -> ResumableLoader:
    """A resumable DataLoader over ``dataset``.

    Args:
        dataset: any map-style dataset; a :class:`ManifestDataset` gets a
            :class:`ManifestCollate` for its modalities by default (a modality without
            a transform is collated as a plain list of raw items).
        batch_size: samples per batch on this rank.
        shuffle, seed: a seeded shuffle per epoch (the same on every rank).
        num_workers: data-loader worker processes (0: load in this process).
        drop_last: drop the last incomplete batch, and cut (instead of pad) the epoch to
            a multiple of ``world_size``.
        rank, world_size: this process's shard; default: from ``torch.distributed`` when
            it is initialised, else a single process.
        collate: the collate function (default as above; else torch's default).
    """
    if batch_size < 1:
        raise ConfigError("batch_size", "a positive integer", batch_size)
    if num_workers < 0:
        raise ConfigError("num_workers", "0 or more", num_workers)
    rank, world_size = _distributed_defaults(rank, world_size)
    sampler = ResumableSampler(
        len(dataset), shuffle=shuffle, seed=seed, rank=rank, world_size=world_size, drop_last=drop_last
    )
    if collate is None and isinstance(dataset, ManifestDataset):
        collate = ManifestCollate.for_transforms(dataset.transforms)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and num_workers > 0,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
        worker_init_fn=seed_worker if num_workers > 0 else None,
        # Worker seeds derive from this generator: a run is repeatable given its seed.
        generator=torch.Generator().manual_seed(seed + rank),
    )
    return ResumableLoader(loader, sampler)
