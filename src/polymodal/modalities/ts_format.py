"""A reader of the UCR/UEA archive's ``.ts`` text format (the subset the archive files use).

Header lines start with ``@`` (``@problemName``, ``@classLabel true 1 2``, ...); comments
with ``#``. After ``@data`` each line is one series: its dimensions separated by ``:``,
values by ``,`` (``?`` = missing, read as NaN), and the class label last. Files with
``@timeStamps true`` are refused: the archive's classification problems do not use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polymodal.errors import InputError
from polymodal.modalities._common import read_bytes_limited

__all__ = ["TsFile", "read_ts"]


@dataclass
class TsFile:
    """A parsed ``.ts`` file.

    Attributes:
        name: the ``@problemName``.
        classes: the labels declared by ``@classLabel``, in their declared order.
        series: one float32 array ``[C, T_i]`` per series (lengths may differ).
        labels: each series' label, as written.
        header: every ``@`` key and its raw value.
    """

    name: str
    classes: list[str]
    series: list[np.ndarray] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    header: dict[str, str] = field(default_factory=dict)


def read_ts(path: str | Path) -> TsFile:
    """Parse the ``.ts`` file at ``path``; errors name the file and line."""
    path = Path(path)
    header: dict[str, str] = {}
    series: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    try:
        text = read_bytes_limited(path, "a .ts file").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), "a UTF-8 text file", f"a byte that is not UTF-8 at offset {exc.start}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise InputError(f"{path}, line {number}", "a '@key value' header line before @data", line[:40])
            key, _, value = line[1:].partition(" ")
            if key.lower() == "data":
                in_data = True
            else:
                header[key.lower()] = value.strip()
            continue
        *dims, label = line.split(":")
        if not dims:
            raise InputError(f"{path}, line {number}", "values and a label separated by ':'", line[:40])
        try:
            rows = [np.array([float("nan") if v == "?" else float(v) for v in d.split(",")]) for d in dims]
        except ValueError as err:
            raise InputError(f"{path}, line {number}", "comma-separated numbers", str(err)) from None
        if len({r.size for r in rows}) != 1:
            raise InputError(f"{path}, line {number}", "dimensions of one length", [r.size for r in rows])
        values = np.stack(rows)
        if np.isinf(values).any() or np.nanmax(np.abs(values), initial=0.0) > np.finfo(np.float32).max:
            raise InputError(f"{path}, line {number}", "values within float32's range (or ? for missing)", "an infinite or overflowing value")
        series.append(values.astype(np.float32))
        labels.append(label.strip())
    if header.get("timestamps", "false").lower() == "true":
        raise InputError(str(path), "a .ts file without time stamps", "@timeStamps true")
    declared = header.get("classlabel", "").split()
    if not declared or declared[0].lower() != "true":
        raise InputError(str(path), "a classification problem ('@classLabel true ...')", header.get("classlabel"))
    classes = declared[1:]
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise InputError(str(path), f"labels among the declared classes {classes}", unknown)
    return TsFile(header.get("problemname", path.stem), classes, series, labels, header)
