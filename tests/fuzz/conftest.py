"""Hypothesis profiles for the fuzz tests and a memory bound for each example.

- ``ci`` (the default): few examples per test, derandomized (the same examples every run,
  so the suite stays fast and repeatable), no example database written into the checkout;
- ``fuzz``: many random examples, for a deeper run by hand:
  ``HYPOTHESIS_PROFILE=fuzz .venv/bin/python -m pytest tests/fuzz`` (``FUZZ_EXAMPLES=N`` per test).
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=25, derandomize=True, database=None, **_COMMON)
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")), **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _address_space() -> int:
    """This process's virtual memory size in bytes (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def memory_bound(extra_bytes: int) -> Iterator[None]:
    """Fail any allocation that would grow the address space by more than ``extra_bytes``
    (``RLIMIT_AS``): numpy and Pillow then raise MemoryError, torch a RuntimeError, which
    the fuzz tests count as failures. The old limit is restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
