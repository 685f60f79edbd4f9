"""The digits comparison (benchmarks/fusion_compare.py): modality dropout keeps accuracy with a view missing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def _load_compare():
    # The script imports its sibling benchmarks/_paths.py, as it does when run from the root
    # (that module takes the folder off sys.path again).
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("fusion_compare", ROOT / "benchmarks" / "fusion_compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_views_are_disjoint_halves_of_real_digits():
    data = _load_compare().load_views()
    assert data["train"]["top"].shape[1:] == (4, 8) and data["train"]["bottom"].shape[1:] == (8, 4)
    assert len(data["train"]["label"]) + len(data["test"]["label"]) == 1797


@pytest.mark.slow
def test_modality_dropout_keeps_most_accuracy_with_a_view_missing():
    compare = _load_compare()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        (row,) = compare.run_comparison(["early_concat"], epochs=8, p=0.5, seed=0)
    finally:
        torch.set_num_threads(threads)
    both = row["dropout_both"]
    missing = min(row["dropout_top_only"], row["dropout_bottom_only"])
    plain_missing = min(row["plain_top_only"], row["plain_bottom_only"])
    assert both > 0.7, row
    assert missing >= 0.7 * both, f"dropout-trained model lost too much with a view missing: {row}"
    assert missing > plain_missing + 0.1, f"modality dropout should help with a view missing: {row}"
