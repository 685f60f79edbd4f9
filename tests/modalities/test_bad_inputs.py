"""Regression tests of issue 14's reader and transform families (5 and 6): each bad input is
refused with an InputError naming what was expected, and no NaN or inf leaves a transform."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polymodal.errors import ConfigError, InputError, NoSignal
from polymodal.modalities import limits


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


# --- resource limits ---------------------------------------------------------------------------
def test_image_limits_are_named_and_can_be_raised(tmp_path: Path) -> None:
    from polymodal.modalities.image import read_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png(100_000, 100_000))
    assert bomb.stat().st_size < 100
    with pytest.raises(InputError, match="bomb.png"):
        read_image(bomb)
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((40, 50), np.uint8)).save(big)
    with limits.raised(image_pixels=1000), pytest.raises(InputError, match=r"within the limit image_pixels=1,000 \(raise it with POLYMODAL_LIMIT_IMAGE_PIXELS\), got 2,000"):
        read_image(big)
    assert read_image(big).shape == (1, 40, 50)
    with pytest.raises(ConfigError, match="limits.pixels"):
        with limits.raised(pixels=1):
            pass


def test_limits_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setattr(limits, "_DEFAULT", [])
    monkeypatch.setenv("POLYMODAL_LIMIT_GRAPH_NODES", "5e3")
    assert limits.current().graph_nodes == 5000
    monkeypatch.setattr(limits, "_DEFAULT", [])
    monkeypatch.setenv("POLYMODAL_LIMIT_GRAPH_NODES", "many")
    with pytest.raises(ConfigError, match="POLYMODAL_LIMIT_GRAPH_NODES: expected a positive number, got 'many'"):
        limits.current()


def test_audio_duration_limit(tmp_path: Path) -> None:
    import soundfile as sf

    from polymodal.modalities.audio import read_audio

    sf.write(tmp_path / "long.wav", np.full(16000, 0.1, np.float32), 8000)
    with limits.raised(audio_seconds=1.5), pytest.raises(InputError, match=r"a duration in seconds within the limit audio_seconds=1.5"):
        read_audio(tmp_path / "long.wav")


def test_npy_header_claiming_more_than_the_file_holds(tmp_path: Path) -> None:
    from polymodal.modalities._common import load_numpy

    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }"
    header += " " * (118 - len(header)) + "\n"
    (tmp_path / "claim.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"x" * 16)
    with pytest.raises(InputError, match="array_values"):
        load_numpy(tmp_path / "claim.npy")


# --- point clouds -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "element, match",
    [("element vertex", "header line 3"), ("element vertex many", "non-negative integer count"), ("element vertex -4", "non-negative integer count"), ("element vertex 0", "a vertex count of 0")],
)
def test_ply_headers_with_bad_counts(tmp_path: Path, element: str, match: str) -> None:
    from polymodal.modalities.point_cloud import read_point_cloud

    (tmp_path / "c.ply").write_text(f"ply\nformat ascii 1.0\n{element}\nproperty float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n")
    with pytest.raises(InputError, match=match):
        read_point_cloud(tmp_path / "c.ply")


def test_ply_count_beyond_the_limit(tmp_path: Path) -> None:
    from polymodal.modalities.point_cloud import read_point_cloud

    (tmp_path / "c.ply").write_text("ply\nformat binary_little_endian 1.0\nelement vertex 999999999\nproperty float x\nproperty float y\nproperty float z\nend_header\n")
    with pytest.raises(InputError, match="point_cloud_points"):
        read_point_cloud(tmp_path / "c.ply")


# --- .ts ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("reader", ["time_series", "ts_format"])
def test_ts_cases_with_only_a_label_or_an_undeclared_label(tmp_path: Path, reader: str) -> None:
    import importlib

    read_ts = importlib.import_module(f"polymodal.modalities.{reader}").read_ts
    head = "@problemName p\n@classLabel true a b\n@data\n"
    (tmp_path / "only.ts").write_text(head + "1,2,3:a\na\n")
    with pytest.raises(InputError, match="only.ts"):
        read_ts(tmp_path / "only.ts")
    (tmp_path / "other.ts").write_text(head + "1,2,3:a\n1,2,3:zebra\n")
    with pytest.raises(InputError, match="zebra"):
        read_ts(tmp_path / "other.ts")


# --- graphs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_nodes", [np.array(-3), np.array([2, 3]), np.array(2.5)])
def test_graph_num_nodes_must_be_one_positive_integer(tmp_path: Path, num_nodes) -> None:
    from polymodal.modalities.graph import read_graph

    np.savez(tmp_path / "g.npz", edge_index=np.zeros((2, 0), np.int64), num_nodes=num_nodes)
    with pytest.raises(InputError, match="num_nodes: expected one positive integer"):
        read_graph(tmp_path / "g.npz")


def test_an_empty_graph_is_refused_not_turned_into_one_node(tmp_path: Path) -> None:
    from polymodal.modalities.graph import read_graph

    np.savez(tmp_path / "g.npz", edge_index=np.zeros((2, 0), np.int64))
    with pytest.raises(InputError, match="at least one node"):
        read_graph(tmp_path / "g.npz")
    (tmp_path / "g.edgelist").write_text("# nothing\n")
    with pytest.raises(InputError, match="at least one edge"):
        read_graph(tmp_path / "g.edgelist")


def test_an_edge_list_naming_a_huge_node_label_holds_two_nodes(tmp_path: Path) -> None:
    from polymodal.modalities.graph import GraphTransform, read_graph

    (tmp_path / "g.edgelist").write_text("0 1000000\n")
    assert (tmp_path / "g.edgelist").stat().st_size == 10
    graph = read_graph(tmp_path / "g.edgelist")
    assert graph.num_nodes == 2 and graph.edge_index.tolist() == [[0], [1]]
    assert GraphTransform()(graph).distance.tolist() == [[0, 1], [1, 0]]
    np.savez(tmp_path / "g.npz", edge_index=np.array([[0], [15000]]))
    with pytest.raises(InputError, match="graph_nodes"):
        read_graph(tmp_path / "g.npz")


def test_far_pairs_and_unreachable_pairs_stay_apart_with_a_bounded_search() -> None:
    import networkx as nx

    from polymodal.modalities.graph import GraphTransform

    g = nx.path_graph(40)
    g.add_node(40)
    s = GraphTransform(max_distance=3)(g)
    assert s.distance[0, 39] == 3 and s.distance[0, 40] == 4 and s.distance[0, 2] == 2


# --- video --------------------------------------------------------------------------------------
def test_video_zero_sizes_uint16_and_strides(tmp_path: Path) -> None:
    from polymodal.modalities.video import VideoTransform, read_video

    np.save(tmp_path / "flat.npy", np.zeros((3, 0, 4, 3), np.uint8))
    with pytest.raises(InputError, match="every size > 0"):
        read_video(tmp_path / "flat.npy")
    with pytest.raises(InputError, match="frame_stride"):
        VideoTransform(frame_stride=0)
    transform = VideoTransform(size=(2, 2), num_frames=None, mean=(0, 0, 0), std=(1, 1, 1))
    out = transform(np.full((1, 2, 2, 3), 65535, np.uint16)).frames
    assert torch.allclose(out, torch.ones_like(out))  # full scale, not 65535


# --- multichannel, tabular, series: stable scaling -------------------------------------------------
def test_multichannel_single_pixel_and_float32_max_stay_finite() -> None:
    from polymodal.modalities.multichannel import MultichannelTransform

    assert MultichannelTransform()(np.ones((3, 1, 1), np.float32)).tolist() == [[[0.0]], [[0.0]], [[0.0]]]
    cube = np.full((2, 4, 4), np.finfo(np.float32).max, np.float32)
    cube[:, 0, 0] = -np.finfo(np.float32).max
    out = MultichannelTransform(size=(2, 2))(cube)
    assert torch.isfinite(out).all() and out.abs().max() > 0


def test_tabular_values_of_1e308_stay_finite_and_duplicate_headers_are_refused(tmp_path: Path) -> None:
    from polymodal.modalities.tabular import TabularTransform, read_table

    rows = [{"a": 1e308}, {"a": -1e308}, {"a": 0.0}]
    transform = TabularTransform.fit(rows, numeric=["a"])
    values = torch.stack([transform(row).numeric for row in rows])
    assert torch.isfinite(values).all() and values[0, 0] > 1 and values[1, 0] < -1
    (tmp_path / "t.csv").write_text("a,b,a\n1,2,3\n")
    with pytest.raises(InputError, match="distinct column names in the header, got 'a' more than once"):
        read_table(tmp_path / "t.csv")


def test_a_word_in_a_numeric_series_cell_is_refused_not_interpolated(tmp_path: Path) -> None:
    from polymodal.modalities.time_series import TimeSeriesTransform, read_time_series

    (tmp_path / "s.csv").write_text("x,y\n1,2\n3,oops\n5,6\n")
    with pytest.raises(InputError, match=r"s.csv:3, column 2: expected a number .*got 'oops'"):
        read_time_series(tmp_path / "s.csv")
    (tmp_path / "m.csv").write_text("x,y\n1,2\n3,NA\n5,6\n")
    series = read_time_series(tmp_path / "m.csv")
    assert np.isnan(series.values[1, 1])
    out = TimeSeriesTransform(missing="interpolate", normalize="none")(series).values
    assert out[1, 1] == 4.0
    huge = TimeSeriesTransform()(np.array([[1e308, -1e308, 0.0, 5e307]]))
    assert torch.isfinite(huge.values).all()


def test_a_manifest_line_nested_100000_deep(tmp_path: Path) -> None:
    from polymodal.data.manifest import Manifest

    (tmp_path / "m.jsonl").write_text('{"id": "1", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(InputError, match="line 1.*nesting too deep"):
        Manifest.load(tmp_path / "m.jsonl")


# --- images read as what they hold ----------------------------------------------------------------
def test_a_float_tiff_of_0_to_255_is_scaled_not_clipped(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    from polymodal.modalities.image import read_image

    seven = load_digits().images[7] * 255 / 16  # 0..255 as float32
    Image.fromarray(seven.astype(np.float32), mode="F").save(tmp_path / "seven.tif")
    pixels = read_image(tmp_path / "seven.tif")[0].numpy()
    np.testing.assert_allclose(pixels, seven / 255, atol=1e-6)
    Image.fromarray(np.full((4, 4), -7.0, np.float32), mode="F").save(tmp_path / "neg.tif")
    with pytest.raises(InputError, match=r"pixel values in \[0, 1\], \[0, 255\] or \[0, 65535\]"):
        read_image(tmp_path / "neg.tif")


# --- audio: "I don't know" ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "wave, got",
    [
        (np.zeros(8000), "digital silence"),
        (np.full(8000, 0.2), "a constant"),
        (1e-30 * np.sin(np.arange(8000) / 5), "a level of -6"),
    ],
)
def test_no_signal_is_its_own_error(wave: np.ndarray, got: str) -> None:
    from polymodal.modalities.audio import AudioTransform

    with pytest.raises(NoSignal, match=got):
        AudioTransform()(wave.astype(np.float32))
    AudioTransform(silence_db=None)(np.sin(np.arange(8000) / 5).astype(np.float32) * 1e-30)  # the check can be disabled
