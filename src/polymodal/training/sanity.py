"""Sanity checks of a classifier's training labels, run before anything is written.

A training set of one class cannot teach a classifier anything: an error. A class that the
evaluation split holds but training never shows can never be predicted right, and a class
declared but absent from both is dead weight in the head: warnings, kept in the run's
``metrics.json`` and ``report.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from polymodal.errors import ConfigError

__all__ = ["check_labels"]


def _names(indices: Sequence[int], classes: Sequence[str]) -> str:
    return ", ".join(repr(classes[i]) if 0 <= i < len(classes) else str(i) for i in sorted(indices))


def check_labels(
    train: Sequence[int],
    evaluation: Sequence[int] | None,
    classes: Sequence[str],
    *,
    train_split: str,
    eval_split: str | None,
    field: str = "data.manifest",
) -> list[str]:
    """Raise :class:`ConfigError` when ``train`` (class indices) holds fewer than two classes;
    return warnings for classes seen only in ``evaluation`` and classes seen nowhere."""
    counts = Counter(int(label) for label in train)
    if len(counts) < 2:
        only = f"only class {_names(list(counts), classes)} ({sum(counts.values())} samples)" if counts else "no labelled samples"
        raise ConfigError(field, f"training samples (split '{train_split}') of at least two classes", only)
    warnings = []
    seen_eval = Counter(int(label) for label in evaluation) if evaluation is not None else Counter()
    eval_only = sorted(set(seen_eval) - set(counts))
    if eval_only:
        held = ", ".join(f"{classes[i]!r} ({seen_eval[i]})" for i in eval_only)
        warnings.append(
            f"{field}: class {held} appears in split '{eval_split}' but never in '{train_split}': the model cannot learn it, "
            f"and its samples count as errors"
        )
    unused = sorted(set(range(len(classes))) - set(counts) - set(seen_eval))
    if unused:
        warnings.append(f"{field}: declared class {_names(unused, classes)} has no sample in '{train_split}'" + (f" or '{eval_split}'" if eval_split else ""))
    return warnings
