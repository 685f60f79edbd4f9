import numpy as np
import pytest
import torch
from modality_checks import check_encoder_gradients, check_padding_invariance, check_tokens
from PIL import Image

from polymodal.errors import InputError
from polymodal.modalities import MODALITIES, TOKENIZERS
from polymodal.modalities.video import VideoTransform, collate_video, read_video


def test_frame_folder_and_npy_to_encoder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"frame_{i:03d}.png")
    np.save(tmp_path / "b.npy", rng.integers(0, 255, (12, 32, 32, 3), dtype=np.uint8))
    spec = MODALITIES.get("video")
    clips = [read_video(folder), read_video(tmp_path / "b.npy")]
    assert clips[0].shape == (5, 40, 48, 3)
    transform = spec.transform(size=(32, 32), num_frames=8)
    samples = [transform(c) for c in clips]
    assert samples[0].frames.shape == (3, 5, 32, 32) and samples[1].frames.shape == (3, 8, 32, 32)
    batch = spec.collate(samples)
    for positions in ("separable", "joint"):
        tok = TOKENIZERS.get("tubelet")(dim=32, tubelet=(2, 16), num_frames=8, image_size=(32, 32), positions=positions)
        tokens = tok(batch)
        check_tokens(tokens, 2, 4 * 2 * 2, 32, "video")  # ceil(8 / 2) slices × 2 × 2 patches
        assert tokens.mask.sum(1).tolist() == [3 * 4, 4 * 4]  # 5 frames -> 3 slices
        check_encoder_gradients(tok, batch)


@pytest.mark.parametrize("positions", ["separable", "joint"])
def test_clips_with_fewer_frames_padding_invariant(positions):
    rng = np.random.default_rng(1)
    transform = VideoTransform(size=(32, 32), num_frames=None)
    samples = [transform(rng.random((n, 32, 32, 3)).astype(np.float32)) for n in (6, 3, 1)]
    tok = TOKENIZERS.get("tubelet")(dim=32, tubelet=(2, 16), num_frames=8, image_size=(32, 32), positions=positions)
    check_padding_invariance(tok, collate_video, samples)


def test_positions_interpolate_to_other_sizes():
    tok = TOKENIZERS.get("tubelet")(dim=16, tubelet=(2, 8), num_frames=4, image_size=(16, 16), positions="joint")
    batch = collate_video([VideoTransform(size=(32, 24), num_frames=None)(np.random.rand(9, 32, 24, 3).astype(np.float32))])
    tokens = tok(batch)
    assert tokens.embeddings.shape == (1, 5 * 4 * 3, 16)


def test_bad_video(tmp_path):
    with pytest.raises(InputError, match="1 channels"):
        VideoTransform(channels=1, mean=(0.5,), std=(0.25,))(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="mean/std: expected 1 values each"):
        VideoTransform(channels=1)  # ImageNet's three means cannot normalise one channel
    with pytest.raises(InputError, match="finite"):
        VideoTransform(size=(8, 8))(np.full((2, 8, 8, 3), np.nan, np.float32))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty"):
        read_video(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "f0.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(InputError, match="f0.png"):
        read_video(tmp_path / "bad")
    with pytest.raises(InputError, match="clip.npy"):
        read_video(tmp_path / "clip.npy")
    tok = TOKENIZERS.get("tubelet")(dim=16, in_channels=3, tubelet=(2, 16), num_frames=4, image_size=(32, 32))
    with pytest.raises(InputError, match="divisible"):
        tok(collate_video([VideoTransform(size=(20, 20))(np.zeros((2, 20, 20, 3), np.uint8))]))
    assert torch.isfinite(tok(collate_video([VideoTransform(size=(32, 32))(np.zeros((2, 8, 8, 3), np.uint8))])).embeddings).all()
