"""Data tests: the stand-in modalities are registered around each test, never at import."""

from collections.abc import Iterator

import pytest
from toy_modalities import registered


@pytest.fixture(autouse=True)
def _toy_modalities() -> Iterator[None]:
    with registered():
        yield
