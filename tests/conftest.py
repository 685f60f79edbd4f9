"""Shared test settings: deterministic seeds and one intra-op thread per test process.

The suite runs as two xdist workers on a 2-core machine; more threads per worker only
oversubscribe the cores (OpenMP's spinning threads turn a 50 ms training step into over a
second), and a single-process run of a few small tests is faster on one thread too.
"""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
