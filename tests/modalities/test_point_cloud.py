import numpy as np
import pytest
import torch
from modality_checks import check_encoder_gradients, check_padding_invariance, check_tokens

from polymodal.errors import InputError
from polymodal.modalities import MODALITIES, TOKENIZERS, modality_for_file
from polymodal.modalities.point_cloud import (
    PointCloudTransform,
    collate_point_clouds,
    farthest_point_sample,
    knn_group,
    read_point_cloud,
)


def reference_fps(points: np.ndarray, n: int) -> list[int]:
    """Brute force: each step scans every point for the largest distance to the chosen set."""
    chosen = [0]
    while len(chosen) < n:
        best, best_d = -1, -1.0
        for i, p in enumerate(points):
            d = min(float(((p - points[j]) ** 2).sum()) for j in chosen)
            if d > best_d:
                best, best_d = i, d
        chosen.append(best)
    return chosen


def reference_knn(points: np.ndarray, centre: np.ndarray, k: int) -> list[int]:
    d = ((points - centre) ** 2).sum(1)
    return sorted(range(len(points)), key=lambda i: (d[i], i))[:k]


def test_fps_and_knn_match_brute_force():
    gen = torch.Generator().manual_seed(1)
    sizes = [40, 27, 33]
    padded = torch.zeros(3, 40, 3, dtype=torch.float64)
    mask = torch.zeros(3, 40, dtype=torch.bool)
    clouds = []
    for i, n in enumerate(sizes):
        c = torch.rand(n, 3, generator=gen, dtype=torch.float64)
        clouds.append(c)
        padded[i, :n] = c
        mask[i, :n] = True
    counts = torch.tensor([10, 7, 9])
    index, sample_mask = farthest_point_sample(padded, counts, mask)
    assert index.shape == (3, 10) and sample_mask.sum(1).tolist() == [10, 7, 9]
    for i, c in enumerate(clouds):
        assert index[i, : counts[i]].tolist() == reference_fps(c.numpy(), int(counts[i]))
    centres = torch.gather(padded, 1, index[..., None].expand(-1, -1, 3))
    neighbours = knn_group(padded, centres, 5, mask)
    for i, c in enumerate(clouds):
        for s in range(int(counts[i])):
            assert neighbours[i, s].tolist() == reference_knn(c.numpy(), centres[i, s].numpy(), 5)


def numpy_fps(points: np.ndarray, n: int) -> list[int]:
    """Plain vectorised FPS, one cloud: the running distance to the chosen set, then its argmax."""
    chosen, nearest = [0], ((points - points[0]) ** 2).sum(1)
    while len(chosen) < n:
        chosen.append(int(nearest.argmax()))
        nearest = np.minimum(nearest, ((points - points[chosen[-1]]) ** 2).sum(1))
    return chosen


@pytest.mark.parametrize("sizes", [[3000, 2200], [4500, 3000]], ids=["one-pruning-level", "two-pruning-levels"])
def test_fps_and_knn_on_large_padded_clouds_match_references(sizes):
    """Clouds big enough for kNN's block pruning (k = 16: P >= 512 one level, >= 4096 two)."""
    gen = torch.Generator().manual_seed(2)
    k = 16
    padded = torch.zeros(2, sizes[0], 3, dtype=torch.float64)
    mask = torch.zeros(2, sizes[0], dtype=torch.bool)
    for i, n in enumerate(sizes):
        # A dense blob beside a sparse shell: neighbourhoods of very different radii.
        blob = torch.randn(n // 2, 3, generator=gen, dtype=torch.float64) * 0.05
        shell = torch.nn.functional.normalize(torch.randn(n - n // 2, 3, generator=gen, dtype=torch.float64), dim=1)
        padded[i, :n] = torch.cat([blob, shell])[torch.randperm(n, generator=gen)]
        mask[i, :n] = True
    centres_index, _ = farthest_point_sample(padded, 300, mask)
    for i, n in enumerate(sizes):  # FPS over blocks of the padded batch = plain FPS per cloud
        assert centres_index[i].tolist() == numpy_fps(padded[i, :n].numpy(), 300)
    centres = torch.gather(padded, 1, centres_index[..., None].expand(-1, -1, 3))
    neighbours = knn_group(padded, centres, k, mask)
    for i, n in enumerate(sizes):
        d = ((padded[i, :n, None, :] - centres[i, None, :, :]) ** 2).sum(-1)  # [n, S]
        expected = d.argsort(dim=0, stable=True)[:k].T  # [S, k]
        assert torch.equal(neighbours[i], expected)


def test_knn_with_fewer_points_than_k_repeats_nearest():
    pts = torch.rand(1, 3, 3)
    idx = knn_group(pts, pts[:, :1], 5)
    assert idx.shape == (1, 1, 5) and idx[0, 0, 0] == 0 and set(idx[0, 0].tolist()) == {0, 1, 2}


def write_ply(path, points: np.ndarray, names: list[str], fmt: str) -> None:
    header = ["ply", f"format {fmt} 1.0", "comment test", f"element vertex {len(points)}"]
    types = ["float" if n in "xyz" else "uchar" for n in names]
    header += [f"property {t} {n}" for t, n in zip(types, names, strict=True)]
    header += ["element face 1", "property list uchar int vertex_indices", "end_header"]
    head = ("\n".join(header) + "\n").encode()
    if fmt == "ascii":
        rows = "\n".join(" ".join(str(int(v)) if t == "uchar" else repr(float(v)) for v, t in zip(r, types, strict=True)) for r in points)
        path.write_bytes(head + rows.encode() + b"\n3 0 1 2\n")
        return
    order = "<" if fmt == "binary_little_endian" else ">"
    dtype = np.dtype([(n, order + ("f4" if t == "float" else "u1")) for n, t in zip(names, types, strict=True)])
    rec = np.zeros(len(points), dtype=dtype)
    for j, n in enumerate(names):
        rec[n] = points[:, j]
    path.write_bytes(head + rec.tobytes() + b"\x03" + np.array([0, 1, 2], dtype=order + "i4").tobytes())


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply_reader(tmp_path, fmt):
    rng = np.random.default_rng(0)
    xyz = rng.random((50, 3)).astype(np.float32)
    rgb = rng.integers(0, 255, (50, 3))
    # Colour first in the file: the reader moves x, y, z to the front.
    write_ply(tmp_path / "c.ply", np.concatenate([rgb, xyz], 1), ["red", "green", "blue", "x", "y", "z"], fmt)
    cloud = read_point_cloud(tmp_path / "c.ply")
    assert cloud.channels == ("x", "y", "z", "red", "green", "blue")
    np.testing.assert_allclose(cloud.points[:, :3], xyz, rtol=1e-6)
    np.testing.assert_allclose(cloud.points[:, 3:], rgb)


def test_ply_with_an_element_before_the_vertices(tmp_path):
    xyz = np.random.default_rng(5).random((7, 3)).astype("<f4")
    head = (
        "ply\nformat binary_little_endian 1.0\nelement camera 1\nproperty float fx\nproperty double fy\n"
        "element vertex 7\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    ).encode()
    camera = np.array([1.5], "<f4").tobytes() + np.array([2.5], "<f8").tobytes()
    (tmp_path / "cam.ply").write_bytes(head + camera + xyz.tobytes())
    np.testing.assert_allclose(read_point_cloud(tmp_path / "cam.ply").points, xyz)


def test_files_to_encoder(tmp_path):
    rng = np.random.default_rng(0)
    write_ply(tmp_path / "a.ply", rng.random((300, 3)) * 5 + 2, ["x", "y", "z"], "binary_little_endian")
    write_ply(tmp_path / "b.ply", rng.random((130, 3)), ["x", "y", "z"], "ascii")
    np.save(tmp_path / "c.npy", rng.random((200, 3)).astype(np.float32))
    np.savetxt(tmp_path / "d.xyz", rng.random((90, 3)))
    spec = MODALITIES.get("point_cloud")
    assert modality_for_file(tmp_path / "a.ply") is spec
    transform = spec.transform()
    samples = [transform(read_point_cloud(tmp_path / f)) for f in ("a.ply", "b.ply", "c.npy", "d.xyz")]
    radii = [float(s.points[:, :3].norm(dim=1).max()) for s in samples]
    np.testing.assert_allclose(radii, 1.0, rtol=1e-5)
    batch = spec.collate(samples)
    tok = TOKENIZERS.get(spec.default_tokenizer)(dim=32, k=8)
    tokens = tok(batch)
    # ceil(ceil(P / 4) / 4): 300 -> 75 -> 19, 130 -> 33 -> 9, 200 -> 50 -> 13, 90 -> 23 -> 6
    check_tokens(tokens, 4, 19, 32, "point_cloud")
    assert tokens.mask.sum(1).tolist() == [19, 9, 13, 6]
    check_encoder_gradients(tok, batch)


def test_clouds_of_different_sizes_padding_invariant():
    rng = np.random.default_rng(2)
    transform = PointCloudTransform(feature_channels=3)
    samples = [transform(rng.random((n, 6)).astype(np.float32)) for n in (120, 64, 97)]
    tok = TOKENIZERS.get("point_sa")(dim=32, feature_channels=3, k=8)
    check_padding_invariance(tok, collate_point_clouds, samples)


def test_bad_point_clouds(tmp_path):
    with pytest.raises(InputError, match="nan.npy"):
        bad = np.random.rand(10, 3)
        bad[3, 1] = np.nan
        np.save(tmp_path / "nan.npy", bad)
        read_point_cloud(tmp_path / "nan.npy")
    write_ply(tmp_path / "t.ply", np.random.rand(50, 3), ["x", "y", "z"], "binary_big_endian")
    raw = (tmp_path / "t.ply").read_bytes()
    (tmp_path / "trunc.ply").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="trunc.ply"):
        read_point_cloud(tmp_path / "trunc.ply")
    (tmp_path / "junk.ply").write_bytes(b"hello")
    with pytest.raises(InputError, match="junk.ply"):
        read_point_cloud(tmp_path / "junk.ply")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(InputError, match="bad.npy"):
        read_point_cloud(tmp_path / "bad.npy")
    with pytest.raises(InputError, match="4 values per point"):
        PointCloudTransform(feature_channels=1)(np.random.rand(10, 3))
    tok = TOKENIZERS.get("point_sa")(dim=16, num_centres=(32, 8))
    small = collate_point_clouds([PointCloudTransform()(np.random.rand(20, 3))])
    with pytest.raises(InputError, match="at least 32 points"):
        tok(small)
    with pytest.raises(InputError, match="num_samples"):
        farthest_point_sample(torch.rand(1, 5, 3), 6)


def test_groups_collated_in_loader_workers_give_the_same_tokens():
    """FPS + kNN in the collate (data-loader workers, as DESIGN puts non-learnable work) or in the tokenizer."""
    import functools

    from torch.utils.data import DataLoader

    from polymodal.modalities.point_cloud import PointGrouping

    rng = np.random.default_rng(3)
    transform = PointCloudTransform(feature_channels=3)
    samples = [transform(rng.random((n, 6)).astype(np.float32)) for n in (300, 130, 200, 90)]
    torch.manual_seed(0)
    tok = TOKENIZERS.get("point_sa")(dim=32, feature_channels=3, k=8).eval()
    assert tok.grouping == PointGrouping(ratio=4, k=8)
    expected = tok(collate_point_clouds(samples))
    loader = DataLoader(samples, batch_size=4, num_workers=2, collate_fn=functools.partial(collate_point_clouds, grouping=tok.grouping))
    (batch,) = list(loader)
    assert batch.groups is not None and batch.groups.neighbours1.shape == (4, 75, 8)
    assert batch.groups.mask2.sum(1).tolist() == [19, 9, 13, 6]
    moved = batch.to("cpu")
    assert moved.groups is not None and torch.equal(moved.groups.index2, batch.groups.index2)
    tokens = tok(batch)
    assert torch.equal(tokens.mask, expected.mask) and torch.equal(tokens.embeddings, expected.embeddings)
    other = TOKENIZERS.get("point_sa")(dim=32, feature_channels=3, k=16)
    with pytest.raises(InputError, match="batch.groups"):
        other(batch)
