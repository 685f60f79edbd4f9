"""Optional dependencies: imported where a feature needs them, with an error naming the extra.

``pip install polymodal`` installs only what the core uses; resampling audio (``soxr``),
plots and TensorBoard (``matplotlib``, ``tensorboard``), time-series baselines (``aeon``)
and the recipes' data sets (``scikit-learn``, eSpeak NG) come with extras. A feature that
needs one calls :func:`require` at the point of use.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from polymodal.errors import MissingDependency

__all__ = ["require", "available"]


def require(module: str, extra: str) -> ModuleType:
    """``import module``, or :class:`MissingDependency` naming ``pip install 'polymodal[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(module, extra) from None


def available(module: str) -> bool:
    """Whether ``module`` imports (for features that are used only when present)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
