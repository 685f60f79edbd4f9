import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
from modality_checks import check_encoder_gradients, check_padding_invariance, check_tokens

from polymodal.errors import InputError
from polymodal.modalities import MODALITIES, TOKENIZERS, modality_for_file
from polymodal.modalities.audio import (
    AST_MEAN,
    AST_STD,
    AudioClip,
    AudioTransform,
    FbankConfig,
    collate_audio,
    feature_stats,
    kaldi_fbank,
    read_audio,
)


def tone(seconds: float, rate: int = 16000, freq: float = 440.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * noise).astype(np.float32)


def test_fbank_matches_ast_feature_extractor():
    transformers = pytest.importorskip("transformers")
    wave = tone(1.3)
    with warnings.catch_warnings():  # transformers warns about AST's empty lowest mel bin
        warnings.simplefilter("ignore", UserWarning)
        ext = transformers.ASTFeatureExtractor(max_length=128, do_normalize=False)
        ref = ext(wave, sampling_rate=16000, return_tensors="np")["input_values"][0]
    ours = kaldi_fbank(torch.from_numpy(wave), dtype=torch.float64).numpy()
    assert ours.shape == (128, 128)
    np.testing.assert_allclose(ours, ref[: ours.shape[0]], atol=1e-5, rtol=0)
    # float32, the default (and torchaudio's precision in AST), stays within 1e-3 in log energy.
    np.testing.assert_allclose(kaldi_fbank(torch.from_numpy(wave)).numpy(), ref[:128], atol=1e-3, rtol=0)


@pytest.mark.parametrize("window,knf_name", [("hann", "hanning"), ("hamming", "hamming"), ("povey", "povey")])
def test_fbank_matches_kaldi_native_fbank(window, knf_name):
    knf = pytest.importorskip("kaldi_native_fbank")
    wave = tone(0.7, freq=1000.0)
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = 16000
    opts.frame_opts.window_type = knf_name
    opts.mel_opts.num_bins = 128
    opts.mel_opts.low_freq = 40.0  # knf refuses AST's 20 Hz with 128 bins (an empty filter)
    opts.use_energy = False
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(16000, wave.tolist())
    fb.input_finished()
    ref = np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)])
    ours = kaldi_fbank(torch.from_numpy(wave), FbankConfig(window=window, low_freq=40.0)).numpy()
    assert ours.shape == ref.shape == (68, 128)
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=0)  # knf works in float32


def test_wav_file_to_encoder(tmp_path):
    rate = 22050
    stereo = np.stack([tone(1.0, rate), tone(1.0, rate, 660.0, seed=1)], axis=1)
    sf.write(tmp_path / "a.wav", stereo, rate)
    sf.write(tmp_path / "b.flac", tone(0.55), 16000)
    spec = modality_for_file(tmp_path / "b.flac")
    assert spec is MODALITIES.get("audio")
    transform = spec.transform()
    clips = [spec.read(tmp_path / "a.wav"), spec.read(tmp_path / "b.flac")]
    assert clips[0].samples.shape == (2, rate) and clips[0].sample_rate == rate
    samples = [transform(c) for c in clips]
    assert samples[0].features.shape == (98, 128)  # resampled to 16 kHz: 1 + (16000 - 400) // 160
    assert samples[1].features.shape == (53, 128)
    batch = spec.collate(samples)
    assert batch.features.shape == (2, 98, 128)
    tok = TOKENIZERS.get(spec.default_tokenizer)(dim=32)
    tokens = tok(batch)
    # 12 frequency rows × time columns 1 + ceil((T - 16) / 10): 10 for 98 frames, 5 for 53.
    check_tokens(tokens, 2, 12 * 10, 32, "audio")
    assert tokens.mask.sum(1).tolist() == [120, 60]
    check_encoder_gradients(tok, batch)


def test_stereo_is_mixed_to_mono_and_resampled(tmp_path):
    wave = tone(0.5, 48000)
    sf.write(tmp_path / "s.ogg", np.stack([wave, wave], 1), 48000, format="OGG", subtype="VORBIS")
    t = AudioTransform(mean=None, std=None)
    mono = t.waveform(read_audio(tmp_path / "s.ogg"))
    assert abs(mono.shape[0] - 8000) <= 1
    # Mixing to mono averages the channels: a quiet left channel halves the level.
    sf.write(tmp_path / "half.wav", np.stack([wave, 0 * wave], 1), 48000)
    half = t.waveform(read_audio(tmp_path / "half.wav"))
    np.testing.assert_allclose(half, t.waveform(AudioClip(wave[None] * 0.5, 48000)), atol=1e-4)  # 16-bit PCM


@pytest.mark.parametrize("name,options", [("audio_patch", {}), ("audio_patch", {"edge": "drop"}), ("audio_conv", {"max_tokens": 32})])
def test_variable_durations_padding_invariant(name, options):
    transform = AudioTransform()
    samples = [transform(tone(s, seed=i)) for i, s in enumerate([0.4, 0.93, 0.18, 0.62])]
    # Position tables long enough for the longest clip (longer inputs interpolate them).
    tok = TOKENIZERS.get(name)(dim=32, **options)
    check_padding_invariance(tok, collate_audio, samples)


def test_demo_recipe_trim_cmvn_fixed_frames():
    silence = np.zeros(4000, dtype=np.float32)
    word = np.concatenate([silence, tone(0.5), silence])
    transform = AudioTransform(trim_silence=40.0, cmvn="utterance", fixed_frames=32, mean=0.0, std=1.0, std_scale=1.0)
    assert transform.config().fixed_frames == 32
    feats = transform(word).features
    assert feats.shape == (32, 128)
    # CMVN before resampling: each bin's mean is (close to) zero.
    assert feats.mean(0).abs().max() < 0.5
    untrimmed = AudioTransform(cmvn="none", mean=None, std=None)(word).features
    trimmed = AudioTransform(trim_silence=40.0, mean=None, std=None)(word).features
    assert untrimmed.shape[0] == 98 and 44 <= trimmed.shape[0] <= 52
    mean, std = feature_stats([feats, feats * 2], per_bin=True)
    assert len(mean) == 128 and len(std) == 128
    # audio_conv: 32 frames / 4 per token = 8 tokens.
    tok = TOKENIZERS.get("audio_conv")(dim=32, frames_per_token=4, max_tokens=8)
    tokens = tok(collate_audio([transform(word)]))
    check_tokens(tokens, 1, 8, 32, "audio")
    assert tokens.mask.all()


def test_ast_geometry_with_edge_drop_and_target_frames():
    transform = AudioTransform(target_frames=1024)
    features = transform(tone(2.0)).features
    assert features.shape == (1024, 128)
    # AST pads with log-Mel zeros before normalisation: (0 - mean) / (2 std).
    assert torch.allclose(features[-1], torch.full((128,), -AST_MEAN / (2 * AST_STD)))
    tok = TOKENIZERS.get("audio_patch")(dim=16, edge="drop")
    assert tok(collate_audio([transform(tone(2.0))])).embeddings.shape == (1, 12 * 101, 16)
    assert TOKENIZERS.get("audio_patch")(dim=16).num_time_patches(1024) == 102


def test_ast_normalisation_default():
    t = AudioTransform()
    raw = AudioTransform(mean=None, std=None)(tone(0.3)).features
    np.testing.assert_allclose(t(tone(0.3)).features, (raw - AST_MEAN) / (2 * AST_STD), atol=1e-5)


def test_bad_audio_raises(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros((0,), np.float32), 16000)
    with pytest.raises(InputError, match="empty.wav"):
        read_audio(tmp_path / "empty.wav")
    sf.write(tmp_path / "ok.wav", tone(0.5), 16000)
    data = (tmp_path / "ok.wav").read_bytes()
    (tmp_path / "trunc.wav").write_bytes(data[:30])
    with pytest.raises(InputError, match="trunc.wav"):
        read_audio(tmp_path / "trunc.wav")
    (tmp_path / "junk.flac").write_bytes(b"not audio at all" * 10)
    with pytest.raises(InputError, match="junk.flac"):
        read_audio(tmp_path / "junk.flac")
    with pytest.raises(InputError, match="missing.wav"):
        read_audio(tmp_path / "missing.wav")
    bad = tone(0.5)
    bad[100] = np.nan
    sf.write(tmp_path / "nan.wav", bad, 16000, subtype="FLOAT")
    with pytest.raises(InputError, match="nan.wav"):
        read_audio(tmp_path / "nan.wav")
    with pytest.raises(InputError, match="at least one frame"):
        AudioTransform()(tone(0.5)[:100])
    with pytest.raises(InputError, match="window"):
        AudioTransform(window="blackman")
