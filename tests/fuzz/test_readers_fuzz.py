"""Property-based fuzzing of every reader and transform (issue 14, family 8).

For random bytes, truncations and mutations of valid files of every format, each reader →
transform → collate pipeline either returns finite tensors or raises a ``polymodal.errors``
exception, never anything else, and within a memory bound: inputs of at most about 1 KB may
grow the process by at most :data:`BOUND` bytes (``RLIMIT_AS``). The transforms get arrays
of extreme numbers (NaN, inf, 1e30, float32's maximum, single pixels, constants) too.
"""

from __future__ import annotations

import io
import struct
import tempfile
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from fuzz_bounds import memory_bound
from polymodal.errors import PolymodalError

BOUND = 150 * 2**20  # reader + transform + collate of a ≤ ~1 KB file


# --- valid seed files of every format ---------------------------------------------------------
def _wav() -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    t = np.arange(400) / 8000
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 8000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _image(fmt: str, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    array = (np.arange(64).reshape(8, 8) * 4).astype(np.float32 if mode == "F" else np.uint8)
    image = Image.fromarray(array, mode=mode) if mode == "F" else Image.fromarray(array).convert(mode)
    image.save(buf, format=fmt)
    return buf.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _ply_binary() -> bytes:
    points = np.arange(24, dtype="<f4").reshape(8, 3)
    header = b"ply\nformat binary_little_endian 1.0\nelement vertex 8\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    return header + points.tobytes()


PLY_ASCII = b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n1 0 0\n0 1 2\n"
TS = b"@problemName t\n@univariate true\n@classLabel true a b\n@data\n1,2,3,4:a\n4,3,2,1:b\n"


def _seeds() -> dict[str, tuple[str, bytes]]:
    """name → (file suffix, valid bytes)."""
    return {
        "wav": (".wav", _wav()),
        "png": (".png", _image("PNG")),
        "png_rgb": (".png", _image("PNG", "RGB")),
        "gif": (".gif", _image("GIF", "P")),
        "bmp": (".bmp", _image("BMP")),
        "jpeg": (".jpg", _image("JPEG")),
        "tiff_float": (".tif", _image("TIFF", "F")),
        "ply_ascii": (".ply", PLY_ASCII),
        "ply_binary": (".ply", _ply_binary()),
        "xyz": (".xyz", b"0 0 0\n1 2 3\n4 5 6\n"),
        "points_npy": (".npy", _npy(np.arange(30, dtype=np.float32).reshape(10, 3))),
        "edgelist": (".edgelist", b"0 1\n1 2\n2 0\n"),
        "graph_npz": (".npz", _npz(edge_index=np.array([[0, 1], [1, 2]]), x=np.ones((3, 2), np.float32))),
        "video_npy": (".npy", _npy(np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3))),
        "cube_npy": (".npy", _npy(np.arange(3 * 4 * 4, dtype=np.float32).reshape(3, 4, 4))),
        "csv_table": (".csv", b"a,b,c\n1,2,x\n3,,y\n"),
        "csv_series": (".csv", b"t,u\n1,2\n3,4\n5,NA\n"),
        "series_npy": (".npy", _npy(np.sin(np.arange(20.0)).reshape(1, 20))),
        "ts": (".ts", TS),
        "txt": (".txt", "a short text, with ünïcode".encode()),
        "manifest": (".jsonl", b'{"id": "1", "text": "hello", "label": "a", "split": "train"}\n'),
    }


SEEDS = _seeds()


# --- the pipelines -----------------------------------------------------------------------------
def _finite(value: Any) -> None:
    """Every tensor reachable from ``value`` is finite (NaN or inf must never reach a model)."""
    if isinstance(value, torch.Tensor):
        assert value.is_floating_point() is False or bool(torch.isfinite(value).all()), "a transform produced NaN or inf"
    elif is_dataclass(value):
        for f in fields(value):
            _finite(getattr(value, f.name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            _finite(item)


def _modality(name: str, transform: Any, read: Callable | None = None) -> Callable[[Path], Any]:
    def run(path: Path) -> Any:
        from polymodal.modalities.base import MODALITIES

        spec = MODALITIES.get(name)
        sample = transform(read(path) if read is not None else spec.read(path))
        batch = spec.collate([sample])
        _finite(sample)
        _finite(batch)
        return batch

    return run


def _pipelines() -> dict[str, Callable[[Path], Any]]:
    from polymodal.modalities.audio import AudioTransform
    from polymodal.modalities.graph import GraphTransform
    from polymodal.modalities.image import ImageTransform
    from polymodal.modalities.multichannel import MultichannelTransform, read_multichannel
    from polymodal.modalities.point_cloud import PointCloudTransform, read_point_cloud
    from polymodal.modalities.tabular import TabularTransform, read_table
    from polymodal.modalities.text import TextTransform, read_text
    from polymodal.modalities.time_series import TimeSeriesTransform, read_time_series, read_ts
    from polymodal.modalities.ts_format import read_ts as read_ts_archive
    from polymodal.modalities.video import VideoTransform

    table = TabularTransform.fit([{"a": "1", "b": "2", "c": "x"}, {"a": "3", "b": "", "c": "y"}], numeric=["a", "b"], categorical=["c"])
    text = TextTransform.train_wordpiece(["a short text", "another text"], vocab_size=40, max_length=16)

    def tabular(path: Path) -> Any:
        from polymodal.modalities.tabular import collate_tabular

        samples = [table(row) for row in read_table(path)]
        if samples:
            _finite(collate_tabular(samples))
        return samples

    def series_ts(path: Path) -> Any:
        transform = TimeSeriesTransform(missing="interpolate")
        for series in read_ts(path).series:
            _finite(transform(series))
        read_ts_archive(path)

    def text_file(path: Path) -> Any:
        from polymodal.modalities.text import collate_text

        return collate_text([text(read_text(path))])

    def manifest(path: Path) -> Any:
        from polymodal.data.manifest import Manifest

        return Manifest.load(path, check_files=False)

    image = _modality("image", ImageTransform(size=8, crop=8, mean=0.5, std=0.5))
    return {
        "wav": _modality("audio", AudioTransform(num_mel_bins=16)),
        "png": image, "png_rgb": image, "gif": image, "bmp": image, "jpeg": image, "tiff_float": image,
        "ply_ascii": _modality("point_cloud", PointCloudTransform(feature_channels=None, max_points=64), read_point_cloud),
        "ply_binary": _modality("point_cloud", PointCloudTransform(feature_channels=None, max_points=64), read_point_cloud),
        "xyz": _modality("point_cloud", PointCloudTransform(feature_channels=None), read_point_cloud),
        "points_npy": _modality("point_cloud", PointCloudTransform(feature_channels=None), read_point_cloud),
        "edgelist": _modality("graph", GraphTransform()),
        "graph_npz": _modality("graph", GraphTransform()),
        "video_npy": _modality("video", VideoTransform(size=(8, 8), num_frames=4)),
        "cube_npy": _modality("multichannel", MultichannelTransform(size=(4, 4)), read_multichannel),
        "csv_table": tabular,
        "csv_series": _modality("time_series", TimeSeriesTransform(missing="interpolate"), read_time_series),
        "series_npy": _modality("time_series", TimeSeriesTransform(), read_time_series),
        "ts": series_ts,
        "txt": text_file,
        "manifest": manifest,
    }


PIPELINES = _pipelines()


def _check(name: str, data: bytes) -> None:
    """Write ``data`` as a file of ``name``'s format and run its pipeline under the memory bound."""
    suffix, _ = SEEDS[name]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data)
        with memory_bound(BOUND):
            try:
                PIPELINES[name](path)
            except PolymodalError:
                pass  # a clear refusal is a valid answer


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Every pipeline once on its valid seed, outside the bound: lazy imports and plugin
    loading map new libraries, which is not what the bound measures; seeds must pass."""
    for name, (suffix, data) in SEEDS.items():
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"input{suffix}"
            path.write_bytes(data)
            PIPELINES[name](path)


# --- mutations ----------------------------------------------------------------------------------
@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """``seed`` after a few random edits: cuts, flipped bytes, inserted or deleted runs, and
    large integers written over header fields (sizes, counts)."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cut", "flip", "insert", "delete", "int32", "int64"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "cut":
            del data[pos:]
        elif kind == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        else:
            value = draw(st.sampled_from([0, 1, 2**31 - 1, 2**32 - 1, 10**9, 100_000, 65535, 2**63 - 1]))
            width, fmt = (4, "<I") if kind == "int32" else (8, "<Q")
            packed = struct.pack(fmt if value < 2 ** (8 * width) else "<Q", value % 2 ** (8 * width))
            data[pos : pos + width] = packed
    return bytes(data)


@pytest.mark.parametrize("name", sorted(SEEDS))
@given(data=st.data())
def test_mutated_files_are_read_or_refused(name: str, data) -> None:
    _check(name, data.draw(mutated(SEEDS[name][1])))


@pytest.mark.parametrize("name", sorted(SEEDS))
@given(blob=st.binary(max_size=1024))
def test_random_bytes_are_read_or_refused(name: str, blob: bytes) -> None:
    _check(name, blob)


@pytest.mark.parametrize("name", sorted(SEEDS))
@given(cut=st.floats(0, 1))
def test_truncated_files_are_read_or_refused(name: str, cut: float) -> None:
    seed = SEEDS[name][1]
    _check(name, seed[: int(len(seed) * cut)])


# --- transforms on extreme numbers --------------------------------------------------------------
EXTREME = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, 1e30, -1e30, 3.4028235e38, -3.4028235e38, 1e-30, 1e308, -1e308, 5e-324]
)


def _arrays(dims: int, max_side: int = 5) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, hnp.array_shapes(min_dims=dims, max_dims=dims, min_side=1, max_side=max_side), elements=EXTREME)


def _transform_answers(call: Callable[[], Any]) -> None:
    with memory_bound(BOUND):
        try:
            _finite(call())
        except PolymodalError:
            pass


@given(array=_arrays(3))
def test_image_transform_on_extreme_values(array: np.ndarray) -> None:
    from polymodal.modalities.image import ImageTransform

    _transform_answers(lambda: ImageTransform(size=4, crop=4, mean=0.5, std=0.5)(torch.from_numpy(array).float()))


@given(array=_arrays(3))
def test_multichannel_transform_on_extreme_values(array: np.ndarray) -> None:
    from polymodal.modalities.multichannel import MultichannelTransform

    for normalize in ("instance", "none"):
        _transform_answers(lambda: MultichannelTransform(normalize=normalize)(array.astype(np.float32)))
    _transform_answers(lambda: MultichannelTransform(normalize="instance")(array))


@given(array=_arrays(2, max_side=40))
def test_time_series_transform_on_extreme_values(array: np.ndarray) -> None:
    from polymodal.modalities.time_series import TimeSeriesTransform

    for missing in ("error", "interpolate"):
        _transform_answers(lambda: TimeSeriesTransform(missing=missing)(array))


@given(array=_arrays(2, max_side=8))
def test_point_cloud_transform_on_extreme_values(array: np.ndarray) -> None:
    from polymodal.modalities.point_cloud import PointCloudTransform

    _transform_answers(lambda: PointCloudTransform(feature_channels=None)(array))


@given(array=_arrays(4, max_side=4))
def test_video_transform_on_extreme_values(array: np.ndarray) -> None:
    from polymodal.modalities.video import VideoTransform

    frames = np.broadcast_to(array[..., :1], array.shape[:3] + (3,))
    _transform_answers(lambda: VideoTransform(size=(4, 4), num_frames=2)(frames))


@given(wave=hnp.arrays(np.float64, st.integers(1, 2000), elements=EXTREME))
def test_audio_transform_on_extreme_values(wave: np.ndarray) -> None:
    from polymodal.modalities.audio import AudioTransform

    _transform_answers(lambda: AudioTransform(num_mel_bins=16)(wave.astype(np.float32)))


@given(values=st.lists(EXTREME | st.text(max_size=5), min_size=2, max_size=2))
def test_tabular_transform_on_extreme_values(values: list) -> None:
    from polymodal.modalities.tabular import TabularTransform

    rows = [{"a": 1e308, "b": -1e308}, {"a": -1e308, "b": 3.4e38}, {"a": values[0], "b": values[1]}]
    _transform_answers(lambda: [TabularTransform.fit(rows, numeric=["a", "b"])(row) for row in rows])


@given(x=_arrays(2, max_side=6), edges=hnp.arrays(np.int64, (2, 3), elements=st.integers(-3, 8)))
def test_graph_transform_on_extreme_values(x: np.ndarray, edges: np.ndarray) -> None:
    from polymodal.modalities.graph import GraphData, GraphTransform

    _transform_answers(lambda: GraphTransform()(GraphData(x, edges)))
