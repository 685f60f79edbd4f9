"""Small writers the builders share: manifest lines, JSON sidecars, counts for the cards."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["count_by", "markdown_table", "write_manifest"]


def write_manifest(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write ``rows`` as JSON Lines (one sample per line); returns the number written."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, separators=(", ", ": ")) + "\n")
            n += 1
    return n


def count_by(rows: Iterable[Mapping[str, Any]], *keys: str) -> dict[str, int]:
    """Counts of rows by the values of ``keys`` joined with ``/`` (e.g. ``"train/image"``)."""
    counts = Counter("/".join(str(row[k]) for k in keys) for row in rows)
    return dict(sorted(counts.items()))


def markdown_table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
