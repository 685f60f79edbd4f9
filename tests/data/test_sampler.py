"""ResumableSampler: seeded order, resume equivalence, DDP sharding, state checks."""

import pytest

from polymodal.data.sampler import ResumableSampler
from polymodal.errors import CheckpointError, ConfigError


def test_seeded_shuffle_changes_per_epoch_and_repeats_per_seed() -> None:
    a, b = ResumableSampler(50, seed=3), ResumableSampler(50, seed=3)
    assert list(a) == list(b) and sorted(a) == list(range(50)) and list(a) != list(range(50))
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first and sorted(a) == list(range(50))
    assert list(ResumableSampler(5, shuffle=False)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("consumed", [0, 7, 23, 50])
def test_resume_gives_the_uninterrupted_order(consumed: int) -> None:
    uninterrupted = ResumableSampler(50, seed=1)
    uninterrupted.set_epoch(2)
    full = list(uninterrupted)

    run = ResumableSampler(50, seed=1)
    run.set_epoch(2)
    it = iter(run)
    seen = [next(it) for _ in range(consumed)]
    run.advance(consumed)
    state = run.state_dict()

    fresh = ResumableSampler(50, seed=1)
    fresh.load_state_dict(state)
    assert seen + list(fresh) == full
    assert len(fresh) == 50 - consumed


@pytest.mark.parametrize(("n", "world", "drop_last"), [(10, 3, False), (10, 3, True), (2, 4, False), (12, 4, False)])
def test_ddp_shards_are_disjoint_and_cover(n: int, world: int, drop_last: bool) -> None:
    shards = [list(ResumableSampler(n, seed=5, rank=r, world_size=world, drop_last=drop_last)) for r in range(world)]
    sizes = {len(s) for s in shards}
    assert len(sizes) == 1  # every rank takes the same number of steps
    everything = [i for s in shards for i in s]
    if drop_last:
        assert len(set(everything)) == len(everything) == (n // world) * world
    else:
        assert set(everything) == set(range(n)) and len(everything) == -(-n // world) * world
        if n % world == 0:
            assert len(set(everything)) == n


def test_ddp_resume_per_rank() -> None:
    sampler = ResumableSampler(20, seed=0, rank=1, world_size=2)
    full = list(sampler)
    sampler.advance(4)
    fresh = ResumableSampler(20, seed=0, rank=1, world_size=2)
    fresh.load_state_dict(sampler.state_dict())
    assert full[:4] + list(fresh) == full


def test_state_from_another_setup_is_refused() -> None:
    state = ResumableSampler(20, seed=0, world_size=2).state_dict()
    with pytest.raises(CheckpointError, match="sampler.world_size"):
        ResumableSampler(20, seed=0, world_size=4).load_state_dict(state)
    with pytest.raises(CheckpointError, match="sampler.num_samples"):
        ResumableSampler(21, seed=0, world_size=2).load_state_dict(state)
    with pytest.raises(CheckpointError, match="sampler.position"):
        ResumableSampler(20, seed=0, world_size=2).load_state_dict({**state, "position": 99})


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="rank"):
        ResumableSampler(10, rank=2, world_size=2)
    with pytest.raises(ConfigError, match="num_samples"):
        ResumableSampler(0)
