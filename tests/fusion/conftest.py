"""Fixtures for the fusion tests: one parameter per registered strategy."""

from __future__ import annotations

import pytest

from polymodal.fusion import FUSIONS


@pytest.fixture(params=FUSIONS.names())
def fusion_name(request) -> str:
    return request.param
