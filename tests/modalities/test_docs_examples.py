"""The examples of docs/modalities.md run here, so that they cannot drift from the code."""

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from polymodal.encoder import TransformerEncoder
from polymodal.tokens import Tokens

DOC = Path(__file__).resolve().parents[2] / "docs" / "modalities.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def write_fixtures(folder: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(160000) / 16000
    sf.write(folder / "clip.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    word = np.zeros(16000, np.float32)
    word[5000:11000] = 0.3 * np.sin(2 * np.pi * 300 * t[:6000])
    sf.write(folder / "word.wav", word, 16000)
    (folder / "frames").mkdir()
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / "frames" / f"{i:02d}.png")
    xyz = rng.random((1024, 3))
    header = f"ply\nformat ascii 1.0\nelement vertex {len(xyz)}\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    (folder / "cloud.ply").write_text(header + "\n".join(" ".join(f"{v:.6f}" for v in row) for row in xyz) + "\n")
    series = rng.standard_normal((128, 3))
    (folder / "imu.csv").write_text("ax,ay,az\n" + "\n".join(",".join(f"{v:.5f}" for v in r) for r in series) + "\n")
    (folder / "rows.csv").write_text("age,income,city\n34,52000,paris\n,61000,lyon\n45,NA,paris\n")
    np.savez(folder / "graph.npz", edge_index=np.array([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]]), x=rng.random((6, 4)))
    np.save(folder / "cube.npy", rng.random((200, 32, 32)).astype(np.float32))


def test_the_doc_has_an_example_per_modality():
    text = "\n".join(BLOCKS)
    for name in ("audio_patch", "audio_conv", "image_conv_rows", "feature_stats", "tubelet", "point_sa", "patch_tst", "FeatureTokenizer", "graphormer", "spectral_patch"):
        assert name in text, name
    assert all(len(b.strip().splitlines()) <= 3 for b in BLOCKS)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("doc_examples")
    write_fixtures(folder)
    return folder


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example{i}" for i in range(len(BLOCKS))])
def test_doc_example_runs(block, fixtures, monkeypatch):
    monkeypatch.chdir(fixtures)
    namespace: dict = {}
    exec(compile(block, str(DOC), "exec"), namespace)
    tokens = namespace["tokens"]
    assert isinstance(tokens, Tokens)
    expected = re.search(r"# \[([\d, ]+)\]", block).group(1)
    assert list(tokens.embeddings.shape) == [int(v) for v in expected.split(",")]
    out = TransformerEncoder(dim=64, depth=1, num_heads=4)(tokens)
    assert out.pooled.shape == (tokens.batch_size, 64)
