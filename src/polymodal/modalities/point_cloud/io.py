"""Reading point clouds: ``.npy``/``.npz`` arrays, PLY (ASCII and binary, either endianness), ``.xyz``/``.txt``.

Every reader returns :class:`PointCloud` ``points [P, 3 + c]`` (x, y, z first, then any
per-point features: colour, normal, intensity) with the feature names when the file has them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polymodal.errors import InputError
from polymodal.modalities import limits
from polymodal.modalities._common import load_numpy, require_file, require_finite

__all__ = ["PointCloud", "read_point_cloud", "read_ply", "POINT_CLOUD_EXTENSIONS"]

# .npy/.npz/.txt are shared by several modalities: read them with read_point_cloud directly.
POINT_CLOUD_EXTENSIONS = (".ply", ".xyz", ".pts")

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


@dataclass(frozen=True)
class PointCloud:
    """``points [P, 3 + c]`` float32: xyz then features; ``channels`` names each column."""

    points: np.ndarray
    channels: tuple[str, ...] = field(default=())
    source: str = "<array>"


def _check(points: np.ndarray, source: str) -> np.ndarray:
    if points.ndim != 2 or points.shape[1] < 3:
        raise InputError(source, "points [P, 3 + c] (x, y, z first)", points)
    if points.shape[0] == 0:
        raise InputError(source, "at least one point", "zero points")
    limits.check(source, "point_cloud_points", points.shape[0], "points")
    if not np.issubdtype(points.dtype, np.number) or np.iscomplexobj(points):
        raise InputError(source, "real numbers", f"dtype {points.dtype}")
    if np.isfinite(points).all() and np.abs(points).max() > np.finfo(np.float32).max:
        raise InputError(source, "coordinates within float32's range", f"values up to {np.abs(points).max():.3g}")
    points = points.astype(np.float32)
    require_finite(points, source)
    return points


def _ply_header(raw: bytes, source: str) -> tuple[str, list[tuple[str, int, list[tuple[str, str | None, str]]]], int]:
    """``(format, elements, body offset)``; each element is ``(name, count, [(prop, list count type, type)])``."""
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise InputError(source, "a PLY file ('ply' ... 'end_header')", "no PLY header")
    newline = raw.find(b"\n", end)
    body = newline + 1 if newline >= 0 else len(raw)
    fmt = None
    elements: list[tuple[str, int, list]] = []
    for number, line in enumerate(raw[:end].decode("ascii", errors="replace").splitlines(), start=1):
        words = line.split()
        if not words or words[0] in ("ply", "comment", "obj_info"):
            continue
        field = f"{source}: header line {number}"
        if words[0] == "format":
            if len(words) < 2:
                raise InputError(field, "'format <ascii|binary_little_endian|binary_big_endian> 1.0'", line.strip())
            fmt = words[1]
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise InputError(field, "'element <name> <count>' with a non-negative integer count", line.strip())
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property":
            scalar = len(words) == 3 and words[1] in _PLY_TYPES
            listed = len(words) == 5 and words[1] == "list" and words[2] in _PLY_TYPES and words[3] in _PLY_TYPES
            if not elements or not (scalar or listed):
                raise InputError(field, f"'property <type> <name>' after an element, types among {', '.join(sorted(_PLY_TYPES))}", line.strip())
            if listed:
                elements[-1][2].append((words[4], words[2], words[3]))
            else:
                elements[-1][2].append((words[2], None, words[1]))
        else:
            raise InputError(field, "a PLY header keyword (format, element, property, comment)", line.strip()[:40])
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise InputError(source, "PLY format ascii, binary_little_endian or binary_big_endian", fmt)
    return fmt, elements, body


def read_ply(path: str | Path) -> PointCloud:
    """The ``vertex`` element of a PLY file as ``[P, n_properties]`` (x, y, z moved first)."""
    source = str(path)
    p = require_file(path)
    limits.check(source, "text_bytes", p.stat().st_size, "a PLY file size in bytes")
    raw = p.read_bytes()
    fmt, elements, body = _ply_header(raw, source)
    names = [e[0] for e in elements]
    if "vertex" not in names:
        raise InputError(source, "a PLY 'vertex' element", f"elements {names}")
    for name, _, props in elements[: names.index("vertex")]:
        if any(p[1] is not None for p in props):
            # Skipping an element of lists before the vertices would need parsing it; rare in practice.
            raise InputError(source, "the vertex element before any list element", f"'{name}' first")
    _, count, props = elements[names.index("vertex")]
    if count == 0:
        raise InputError(source, "at least one point", "a vertex count of 0")
    limits.check(source, "point_cloud_points", count, "points")
    if any(p[1] is not None for p in props):
        raise InputError(source, "scalar vertex properties", "a list property")
    prop_names = [p[0] for p in props]
    if not {"x", "y", "z"} <= set(prop_names):
        raise InputError(source, "vertex properties x, y, z", prop_names)
    try:
        if fmt == "ascii":
            lines = raw[body:].decode("ascii").split("\n")
            skip = sum(c for n, c, _ in elements[: names.index("vertex")])
            if len(lines) < skip + count:
                raise ValueError(f"{count} vertex rows declared, {max(len(lines) - skip, 0)} present")
            rows = [ln.split() for ln in lines[skip : skip + count]]
            if len(rows) < count or any(len(r) != len(props) for r in rows):
                raise ValueError("fewer vertex rows than the header declares")
            table = np.asarray(rows, dtype=np.float64)
        else:
            order = "<" if fmt == "binary_little_endian" else ">"
            offset = body
            for _, c, pr in elements[: names.index("vertex")]:
                offset += c * sum(np.dtype(_PLY_TYPES[t]).itemsize for _, _, t in pr)
            dtype = np.dtype([(n, order + _PLY_TYPES[t]) for n, _, t in props])
            if len(raw) < offset + count * dtype.itemsize:
                raise ValueError(f"{count} vertices need {count * dtype.itemsize} bytes, the file is shorter")
            record = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
            table = np.stack([record[n].astype(np.float64) for n in prop_names], axis=1)
    except (ValueError, KeyError, UnicodeDecodeError, OverflowError) as exc:
        raise InputError(source, f"a valid {fmt} PLY body", f"unreadable ({exc})") from None
    rest = [n for n in prop_names if n not in ("x", "y", "z")]
    order_idx = [prop_names.index(n) for n in ("x", "y", "z", *rest)]
    return PointCloud(_check(table[:, order_idx], source), ("x", "y", "z", *rest), source)


def read_point_cloud(path: str | Path) -> PointCloud:
    """Read ``.ply``, ``.npy``/``.npz`` (array ``points`` or the first one) or ``.xyz``/``.txt``/``.pts``."""
    source = str(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".ply":
        return read_ply(path)
    if suffix in (".npy", ".npz"):
        with_names = suffix == ".npz" and "points" in _npz_names(path)
        points = load_numpy(path, "points" if with_names else None)
        if not np.issubdtype(points.dtype, np.number) or np.iscomplexobj(points):
            raise InputError(source, "real numbers", f"dtype {points.dtype}")
        return PointCloud(_check(np.asarray(points, dtype=np.float64), source), (), source)
    if suffix in (".xyz", ".txt", ".pts"):
        require_file(path)
        limits.check(source, "text_bytes", Path(path).stat().st_size, "a point file size in bytes")
        try:
            table = np.loadtxt(path, dtype=np.float64, delimiter=_delimiter(path), ndmin=2, comments="#")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(source, "rows of numbers x y z [features]", f"unreadable ({exc})") from None
        return PointCloud(_check(table, source), (), source)
    raise InputError(source, "a .ply, .npy, .npz, .xyz, .txt or .pts file", suffix or "no suffix")


def _npz_names(path: str | Path) -> list[str]:
    try:
        with np.load(require_file(path), allow_pickle=False) as z:
            return list(z.files)
    except Exception:
        return []


def _delimiter(path: str | Path) -> str | None:
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.readline()
    return "," if "," in head else None
