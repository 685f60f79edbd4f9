"""Training-time augmentations: known answers, shapes kept, inputs untouched, seeded draws."""

import math

import numpy as np
import pytest
import torch

from polymodal.errors import ConfigError
from polymodal.modalities import MODALITIES
from polymodal.modalities.graph import GraphAugment, GraphTransform, hop_distances
from polymodal.modalities.point_cloud import PointCloudAugment, PointSample
from polymodal.modalities.time_series import SeriesAugment, SeriesSample
from polymodal.modalities.video import VideoAugment, VideoSample


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_series_jitter_scaling_and_window_crop():
    x = torch.sin(torch.linspace(0.1, 3.0, 64)).repeat(3, 1)  # [C=3, T=64], no zero
    sample = SeriesSample(x.clone())
    assert torch.equal(SeriesAugment()(sample, gen()).values, x)  # no options: unchanged
    noisy = SeriesAugment(jitter=0.1)(sample, gen()).values
    assert (noisy - x).std().item() == pytest.approx(0.1, rel=0.2)
    scaled = SeriesAugment(scaling=0.2)(sample, gen()).values
    ratio = scaled / x
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-4) and not torch.allclose(ratio[0, 0], ratio[1, 0])  # one factor per channel
    cropped = SeriesAugment(crop=0.5)(sample, gen()).values
    assert cropped.shape == x.shape and not torch.allclose(cropped, x)
    assert cropped.min() >= x.min() - 1e-6 and cropped.max() <= x.max() + 1e-6  # a stretched window of the series
    assert torch.equal(sample.values, x)  # never in place: the training set is reused every epoch
    both = SeriesAugment(jitter=0.1, scaling=0.1, crop=0.8)
    assert torch.equal(both(sample, gen(3)).values, both(sample, gen(3)).values)  # a pure function of the generator
    for bad in ({"jitter": -1}, {"crop": 0}, {"crop": 1.5}):
        with pytest.raises(ConfigError, match="augment.time_series"):
            SeriesAugment(**bad)


def test_point_cloud_rotation_scale_jitter_dropout():
    rng = torch.Generator().manual_seed(1)
    points = torch.cat([torch.randn(100, 3, generator=rng), torch.arange(100.0)[:, None]], dim=1)  # xyz + one feature
    sample = PointSample(points.clone())
    z = PointCloudAugment(rotate="z")(sample, gen()).points
    assert torch.allclose(z[:, 2], points[:, 2]) and torch.allclose(z[:, :3].norm(dim=1), points[:, :3].norm(dim=1), atol=1e-5)
    assert not torch.allclose(z[:, :2], points[:, :2])
    so3 = PointCloudAugment(rotate="so3")(sample, gen()).points
    assert torch.allclose(so3[:, :3].norm(dim=1), points[:, :3].norm(dim=1), atol=1e-5)
    rotation = torch.linalg.lstsq(points[:, :3], so3[:, :3]).solution  # so3 = p Rᵀ
    assert torch.linalg.det(rotation).item() == pytest.approx(1.0, abs=1e-4)  # a rotation, not a reflection
    scaled = PointCloudAugment(scale=(2.0, 2.0))(sample, gen()).points
    assert torch.allclose(scaled[:, :3], 2 * points[:, :3])
    jittered = PointCloudAugment(jitter=0.01)(sample, gen()).points
    assert (jittered[:, :3] - points[:, :3]).abs().max() <= 0.03 + 1e-6  # clipped at 3 std
    dropped = PointCloudAugment(dropout=0.9)(sample, gen()).points
    replaced = (dropped == points[0]).all(dim=1)
    assert dropped.shape == points.shape and 1 < int(replaced.sum()) < 100  # dropped points repeat the first
    assert torch.equal(dropped[:, 3][~replaced], points[:, 3][~replaced])  # features travel with their points
    assert torch.equal(sample.points, points)
    with pytest.raises(ConfigError, match="augment.point_cloud.scale"):
        PointCloudAugment(scale=(2.0, 1.0))


def test_graph_edge_and_feature_dropout_recompute_the_structure():
    n = 8
    ring = np.array([(i, (i + 1) % n) for i in range(n)]).T
    from polymodal.modalities.graph import GraphData

    transform = GraphTransform(max_distance=3)
    sample = transform(GraphData(np.arange(n, dtype=np.float32)[:, None] + 1, ring))
    assert torch.equal(GraphAugment(max_distance=3)(sample, gen()).distance, sample.distance)
    out = GraphAugment(edge_dropout=0.3, max_distance=3)(sample, gen(2))
    kept = (out.distance == 1).float()
    assert torch.equal(kept, kept.T) and kept.sum() < 2 * n  # undirected edges dropped in both directions
    assert ((kept == 1) <= (sample.distance == 1)).all()  # only edges that were there
    hops = torch.from_numpy(hop_distances(kept.numpy()))
    assert torch.equal(out.distance, torch.where(hops < 0, 4, hops.clamp(max=3)))  # unreachable: max_distance + 1
    assert torch.equal(out.in_degree, kept.sum(0).long()) and torch.equal(out.out_degree, kept.sum(1).long())
    masked = GraphAugment(feature_dropout=0.5)(sample, gen()).x
    assert 0 < int((masked == 0).sum()) < n and torch.equal(masked[masked != 0], sample.x[masked != 0])
    built = MODALITIES.get("graph").build_augmentation({"edge_dropout": 0.1}, transform)
    assert (built.max_distance, built.max_degree) == (3, transform.max_degree)  # the transform's clipping


def test_video_crop_and_flip_are_the_same_for_every_frame():
    frame = torch.arange(16.0).reshape(1, 4, 4)
    clip = VideoSample(frame[:, None].repeat(1, 5, 1, 1).clone())  # [C=1, T=5, H, W], identical frames
    flipped = VideoAugment(flip=True)
    draws = [flipped(clip, gen(seed)).frames for seed in range(8)]
    assert any(torch.equal(d, clip.frames.flip(-1)) for d in draws) and any(torch.equal(d, clip.frames) for d in draws)
    cropped = VideoAugment(crop=0.5)(clip, gen()).frames
    assert cropped.shape == clip.frames.shape and all(torch.equal(cropped[:, t], cropped[:, 0]) for t in range(5))
    image = MODALITIES.get("image").build_augmentation({"crop": 0.75, "flip": True}, None)
    assert image(torch.rand(3, 8, 8), gen()).shape == (3, 8, 8)
    with pytest.raises(ConfigError, match="augment.tabular"):
        MODALITIES.get("tabular").build_augmentation({"jitter": 0.1}, None)
    with pytest.raises(ConfigError, match="augment.video"):
        MODALITIES.get("video").build_augmentation({"rotate": "z"}, None)
    assert math.isclose(VideoAugment(crop=1.0).crop, 1.0)
