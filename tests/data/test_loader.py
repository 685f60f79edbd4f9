"""build_loader: batches from real files, resume after a 'kill' mid-epoch, epochs, workers, DDP."""

from pathlib import Path

import pytest
import torch
from toy_modalities import ScaleImage, WaveformTensor, write_files

from polymodal.data.dataset import ManifestDataset
from polymodal.data.loader import build_loader
from polymodal.errors import ConfigError


@pytest.fixture
def dataset(tmp_path: Path) -> ManifestDataset:
    return ManifestDataset(write_files(tmp_path, count=11), {"toy_image": ScaleImage(), "toy_audio": WaveformTensor()})


def ids(loader, batches: int | None = None) -> list[list[str]]:
    out = []
    for batch in loader:
        out.append(batch.ids)
        if batches is not None and len(out) == batches:
            break
    return out


def test_batches_cover_the_epoch_then_move_on(dataset: ManifestDataset) -> None:
    loader = build_loader(dataset, batch_size=4, seed=0)
    assert len(loader) == 3
    first = ids(loader)
    assert [len(b) for b in first] == [4, 4, 3]
    assert sorted(i for b in first for i in b) == sorted(dataset[i]["id"] for i in range(len(dataset)))
    assert loader.epoch == 1
    second = ids(loader)
    assert second != first and loader.epoch == 2
    batch = next(iter(loader))
    assert batch.inputs["toy_image"].pixels.shape == (4, 1, 8, 8) and batch.inputs["toy_audio"].mask.dtype == torch.bool


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_after_kill_equals_uninterrupted(dataset: ManifestDataset, workers: int) -> None:
    reference = build_loader(dataset, batch_size=3, seed=7)
    expected = ids(reference) + ids(reference)  # two epochs

    run = build_loader(dataset, batch_size=3, seed=7, num_workers=workers)
    head = ids(run) + ids(run, batches=2)  # one epoch and two batches, then "killed"
    state = run.state_dict()
    del run

    resumed = build_loader(dataset, batch_size=3, seed=7, num_workers=workers)
    resumed.load_state_dict(state)
    assert len(resumed) == 2
    assert head + ids(resumed) == expected


def test_ddp_ranks_split_each_batch_step(dataset: ManifestDataset) -> None:
    ranks = [build_loader(dataset, batch_size=2, seed=1, rank=r, world_size=2, drop_last=True) for r in range(2)]
    per_rank = [[i for b in ids(loader) for i in b] for loader in ranks]
    assert len(per_rank[0]) == len(per_rank[1]) == 4  # 11 // 2 = 5 per rank, full batches of 2
    assert not set(per_rank[0]) & set(per_rank[1])


def test_bad_arguments(dataset: ManifestDataset) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        build_loader(dataset, batch_size=0)


def test_break_mid_epoch_then_continue_with_persistent_workers(dataset: ManifestDataset) -> None:
    expected = ids(build_loader(dataset, batch_size=2, seed=3))
    loader = build_loader(dataset, batch_size=2, seed=3, num_workers=2, persistent_workers=True)
    head = ids(loader, batches=2)  # prefetched batches beyond these are not counted as consumed
    assert head + ids(loader) == expected and loader.epoch == 1
