"""Hypothesis profiles for the fuzz tests (the memory bound is in ``fuzz_bounds.py``).

- ``ci`` (the default): few examples per test, derandomized (the same examples every run,
  so the suite stays fast and repeatable), no example database written into the checkout;
- ``fuzz``: many random examples, for a deeper run by hand:
  ``HYPOTHESIS_PROFILE=fuzz .venv/bin/python -m pytest tests/fuzz`` (``FUZZ_EXAMPLES=N`` per test).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=25, derandomize=True, database=None, **_COMMON)
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")), **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
