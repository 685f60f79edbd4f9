"""One intra-op thread for these small tests: on a shared 2-core machine OpenMP's spinning
threads turn a 50 ms training step into over a second."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
