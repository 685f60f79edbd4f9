"""Pieces of the digits-av task: image shifts, label-aware InfoNCE, the noise-aware silence trim."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from polymodal.recipes.digits_av.task import _AudioAugment, augment_audio, label_info_nce, random_shift


def test_random_shift_moves_whole_images_and_fills_the_border() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = random_shift(x, 1, -1.0)
    assert out.shape == x.shape
    filled = {int((image == -1).sum()) for image in out}
    assert filled <= {0, 3, 4, 7} and len(filled) > 1  # no shift, a row or column, or both
    unshifted = [image for image in out if not (image == -1).any()]
    assert all(torch.equal(image, x[0]) for image in unshifted)


def test_label_infonce_is_clip_infonce_with_distinct_labels_and_lower_with_shared_ones() -> None:
    from polymodal.objectives.contrastive import info_nce

    a, b = F.normalize(torch.randn(6, 8), dim=-1), F.normalize(torch.randn(6, 8), dim=-1)
    scale = torch.tensor(10.0)
    torch.testing.assert_close(label_info_nce(a, b, torch.arange(6), scale), info_nce(a, b, scale)[0])
    assert label_info_nce(a, b, torch.tensor([0, 0, 1, 1, 2, 2]), scale) < info_nce(a, b, scale)[0]


def test_noise_aware_trim_keeps_the_trained_threshold_on_clean_clips_and_lowers_it_for_noise() -> None:
    pytest.importorskip("polymodal.modalities.audio")
    from polymodal.modalities.audio import AudioClip
    from polymodal.recipes.digits_av.inference import noise_aware_trim_db

    rate = 16000
    t = np.arange(int(0.4 * rate)) / rate
    word = (0.3 * np.sin(2 * np.pi * 220 * t) * np.hanning(len(t))).astype(np.float32)
    silence = np.zeros(rate // 2, dtype=np.float32)
    clean = np.concatenate([silence, word, silence])
    noisy = clean + np.random.default_rng(0).normal(0, 0.003, clean.shape).astype(np.float32)
    options = {"num_mel_bins": 32, "trim_silence": 40.0, "cmvn": "utterance", "fixed_frames": 32, "mean": None, "std": None}
    assert noise_aware_trim_db(AudioClip(clean[None], rate), options) == 40.0
    assert noise_aware_trim_db(AudioClip(noisy[None], rate), options) < 40.0
    assert noise_aware_trim_db(AudioClip(noisy[None], rate), {**options, "trim_silence": None}) is None


def test_spec_augment_zeroes_one_band_and_one_span_per_clip() -> None:
    torch.manual_seed(0)
    features = torch.randn(64, 32, 128) + 10.0  # no natural zeros
    out = augment_audio(features, _AudioAugment(freq_mask=12, time_mask=4))
    assert out.shape == features.shape and not torch.equal(out, features)
    zero = out == 0
    for clip in range(64):
        bins = zero[clip].all(dim=0).nonzero().flatten()  # a masked bin is zero in every frame
        frames = zero[clip].all(dim=1).nonzero().flatten()
        assert len(bins) <= 12 and len(frames) <= 4
        for idx in (bins, frames):  # one contiguous band / span
            assert len(idx) == 0 or int(idx[-1] - idx[0]) == len(idx) - 1
        kept = ~zero[clip]
        assert torch.equal(out[clip][kept], features[clip][kept])  # everything else untouched
    assert zero.all(dim=1).any(dim=1).float().mean() > 0.5  # most clips lose a band


def test_frequency_shift_moves_the_mel_axis_and_repeats_the_edge_bin() -> None:
    torch.manual_seed(1)
    features = torch.arange(128.0).expand(16, 32, 128)
    out = augment_audio(features, _AudioAugment(freq_shift=2))
    shift = 64 - out[:, 0, 64]  # bin 64 now holds bin 64 - shift
    assert set(shift.tolist()) <= {-2.0, -1.0, 0.0, 1.0, 2.0} and len(set(shift.tolist())) > 1
    for clip in range(16):
        s = int(shift[clip])
        expected = (torch.arange(128) - s).clamp(0, 127).float()
        assert torch.equal(out[clip, 0], expected)


def test_no_augmentation_is_the_identity() -> None:
    features = torch.randn(4, 32, 128)
    assert augment_audio(features, _AudioAugment()) is features
