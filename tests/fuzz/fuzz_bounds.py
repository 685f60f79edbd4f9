"""A memory bound for one fuzz example: ``RLIMIT_AS`` raised by a fixed amount over the present size."""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator

__all__ = ["memory_bound"]


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
