"""The same results on a CUDA device as on the CPU (skipped where no GPU is present).

polymodal's code is device-agnostic: every tensor it creates follows its inputs' device.
These tests run each main path on both and compare, in float32 with TF32 off (float64
where FPS/kNN ties would otherwise depend on rounding).
"""

import numpy as np
import pytest
import torch

from polymodal import Tokens
from polymodal.encoder import TransformerEncoder
from polymodal.fusion import FUSIONS, build_fusion
from polymodal.modalities.audio import kaldi_fbank
from polymodal.modalities.point_cloud import (
    PointCloudTransform,
    PointTokenizer,
    collate_point_clouds,
    farthest_point_sample,
    gather_points,
    knn_group,
)
from polymodal.models import Captioner, CaptionerConfig
from polymodal.objectives.contrastive import info_nce

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def exact_float32():
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def padded_tokens(b: int = 3, n: int = 11, d: int = 32, modality: str = "image") -> Tokens:
    g = torch.Generator().manual_seed(0)
    mask = torch.arange(n)[None, :] < torch.tensor([n, n - 4, 2][:b])[:, None]
    return Tokens(torch.randn(b, n, d, generator=g), mask, modality)


@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_matches_cpu_with_padding_causal_and_bias(norm_first):
    torch.manual_seed(0)
    encoder = TransformerEncoder(dim=32, depth=2, num_heads=4, norm_first=norm_first).eval()
    tokens = padded_tokens()
    tokens = Tokens(tokens.embeddings, tokens.mask, "graph", attention_bias=torch.randn(3, 1, 11, 11))
    for causal in (False, True):
        cpu = encoder(tokens, causal=causal, output_hidden_states=True)
        gpu = encoder.to(CUDA)(tokens.to(CUDA), causal=causal, output_hidden_states=True)
        encoder.cpu()
        torch.testing.assert_close(gpu.pooled.cpu(), cpu.pooled, atol=1e-5, rtol=1e-5)
        for a, b in zip(gpu.hidden_states, cpu.hidden_states, strict=True):
            torch.testing.assert_close(a.cpu(), b, atol=1e-5, rtol=1e-5)


def test_encoder_trains_under_bf16_autocast_on_cuda():
    torch.manual_seed(0)
    encoder = TransformerEncoder(dim=32, depth=2, num_heads=4).to(CUDA)
    tokens = padded_tokens().to(CUDA)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = encoder(tokens).pooled.float().pow(2).mean()
    loss.backward()
    grads = [p.grad for p in encoder.parameters() if p.requires_grad]
    assert torch.isfinite(loss) and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_fps_and_knn_match_cpu():
    g = torch.Generator().manual_seed(0)
    points = torch.rand(2, 5000, 3, generator=g, dtype=torch.float64)
    mask = torch.ones(2, 5000, dtype=torch.bool)
    mask[1, 4100:] = False
    counts = torch.tensor([1250, 1025])
    index, sample_mask = farthest_point_sample(points, counts, mask)
    gpu_index, gpu_sample_mask = farthest_point_sample(points.to(CUDA), counts.to(CUDA), mask.to(CUDA))
    assert torch.equal(gpu_index.cpu(), index) and torch.equal(gpu_sample_mask.cpu(), sample_mask)
    centres = gather_points(points, index)
    neighbours = knn_group(points, centres, 16, mask)
    assert torch.equal(knn_group(points.to(CUDA), centres.to(CUDA), 16, mask.to(CUDA)).cpu(), neighbours)


def test_point_tokenizer_matches_cpu():
    rng = np.random.default_rng(0)
    transform = PointCloudTransform()
    batch_samples = [transform(rng.standard_normal((n, 3)).astype(np.float32)) for n in (700, 512)]
    batch = collate_point_clouds(batch_samples)
    torch.manual_seed(0)
    tokenizer = PointTokenizer(dim=64).eval()
    cpu = tokenizer(batch)
    gpu = tokenizer.to(CUDA)(batch.to(CUDA))
    assert torch.equal(gpu.mask.cpu(), cpu.mask)
    torch.testing.assert_close(gpu.embeddings.cpu(), cpu.embeddings, atol=1e-4, rtol=1e-4)
    # Groups collated on the CPU (data-loader workers) travel with the batch.
    grouped = collate_point_clouds(batch_samples, grouping=tokenizer.grouping).to(CUDA)
    assert grouped.groups is not None and grouped.groups.neighbours1.device.type == CUDA.type
    torch.testing.assert_close(tokenizer(grouped).embeddings.cpu(), cpu.embeddings, atol=1e-4, rtol=1e-4)


def test_filterbank_matches_cpu():
    wave = torch.from_numpy(np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1)
    torch.testing.assert_close(kaldi_fbank(wave.to(CUDA)).cpu(), kaldi_fbank(wave), atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(FUSIONS.names()))
def test_every_fusion_strategy_matches_cpu_with_a_missing_modality(name):
    torch.manual_seed(0)
    fusion = build_fusion(name, {"modalities": ["a", "b"], "dim": 32, "num_heads": 4}).eval()
    a, b = padded_tokens(modality="a"), padded_tokens(n=7, modality="b")
    b = Tokens(b.embeddings, b.mask & torch.tensor([True, False, True])[:, None], "b")  # sample 1 lacks b
    cpu = fusion({"a": a, "b": b})
    gpu = fusion.to(CUDA)({"a": a.to(CUDA), "b": b.to(CUDA)})
    torch.testing.assert_close(gpu.pooled.cpu(), cpu.pooled, atol=1e-5, rtol=1e-5)


def test_captioner_generates_the_same_tokens_on_cuda():
    torch.manual_seed(0)
    model = Captioner(CaptionerConfig(vocab_size=23, dim=32, depth=2, num_heads=4, max_length=12)).eval()
    with torch.no_grad():
        model.token_embed.weight.mul_(40.0)
    context = padded_tokens()
    for beams in (1, 3):
        cpu = model.generate(context, num_beams=beams).tokens
        gpu = model.to(CUDA).generate(context.to(CUDA), num_beams=beams).tokens
        model.cpu()
        assert torch.equal(gpu.cpu(), cpu)


def test_info_nce_matches_cpu():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    for x, y in zip(info_nce(a.to(CUDA), b.to(CUDA), 10.0), info_nce(a, b, 10.0), strict=True):
        torch.testing.assert_close(x.cpu(), y, atol=1e-5, rtol=1e-5)


def test_sinusoidal_positions_follow_the_tokens_device():
    torch.manual_seed(0)
    encoder = TransformerEncoder(dim=32, depth=1, num_heads=4, positions="sinusoidal").eval()
    tokens = padded_tokens()
    torch.testing.assert_close(encoder.to(CUDA)(tokens.to(CUDA)).pooled.cpu(), encoder.cpu()(tokens).pooled, atol=1e-5, rtol=1e-5)


def test_digits_av_augmentations_match_cpu_from_the_same_seed():
    from polymodal.recipes.digits_av.task import _AudioAugment, augment_audio, random_shift

    features, pixels = torch.randn(4, 20, 32), torch.rand(4, 1, 8, 8)
    options = _AudioAugment(freq_shift=2, freq_mask=5, time_mask=3)
    torch.manual_seed(0)
    cpu = augment_audio(features, options), random_shift(pixels, 1, 0.0)
    torch.manual_seed(0)
    gpu = augment_audio(features.to(CUDA), options), random_shift(pixels.to(CUDA), 1, 0.0)
    for a, b in zip(gpu, cpu, strict=True):
        assert torch.equal(a.cpu(), b)


def test_audio_encoder_model_matches_cpu():
    from polymodal.encoder import EncoderConfig
    from polymodal.modalities.audio import AudioBatch, AudioPatchTokenizer
    from polymodal.models import AudioEncoderModel

    torch.manual_seed(0)
    encoder = TransformerEncoder(EncoderConfig(dim=32, depth=2, num_heads=4, cls_token=True))
    model = AudioEncoderModel(AudioPatchTokenizer(dim=32, num_mel_bins=32, max_frames=100, edge="drop"), encoder, distillation_token=True).eval()
    batch = AudioBatch(torch.randn(2, 100, 32), torch.tensor([100, 60]))
    cpu = model.encode_audio(batch)
    torch.testing.assert_close(model.to(CUDA).encode_audio(batch.to(CUDA)).cpu(), cpu, atol=1e-5, rtol=1e-5)


def test_compiled_encoder_matches_cpu():
    import copy

    from polymodal.inference import compile_for_inference

    torch.manual_seed(0)
    encoder = TransformerEncoder(dim=32, depth=2, num_heads=4, pool="mean").eval()
    tokens = padded_tokens()
    cpu = encoder(tokens)
    compiled = compile_for_inference(copy.deepcopy(encoder).to(CUDA), fullgraph=True)
    gpu = compiled(tokens.to(CUDA))
    torch.testing.assert_close(gpu.hidden.cpu(), cpu.hidden, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gpu.pooled.cpu(), cpu.pooled, atol=1e-5, rtol=1e-5)


def test_a_run_resumed_on_cuda_continues_as_the_straight_run(tmp_path):
    # The checkpoint's RNG states come back on the training device; torch takes generator
    # states as CPU tensors only (a resume on a GPU once failed with "RNG state must be a
    # torch.ByteTensor").
    import json

    from PIL import Image
    from safetensors.torch import load_file
    from sklearn.datasets import load_digits

    from polymodal.training import Trainer, load_config

    digits = load_digits(n_class=3)
    lines = []
    for i in range(60):
        Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).save(tmp_path / f"{i}.png")
        lines.append({"id": str(i), "image": f"{i}.png", "label": int(digits.target[i]), "split": "train" if i < 48 else "val"})
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    (tmp_path / "classes.json").write_text(json.dumps(["zero", "one", "two"]))

    def run(name: str, steps: int, resume: bool = False):
        config = {
            "task": "manifest_classifier",
            "output_dir": str(tmp_path / name),
            "data": {
                "manifest": str(tmp_path / "manifest.jsonl"), "val_split": None, "eval_split": "val",
                "transforms": {"image": {"size": 8, "crop": 8, "mean": 0.5, "std": 0.5}},
                "augment": {"image": {"crop": 0.8, "flip": True}},
            },
            "model": {
                "dim": 32, "num_heads": 4, "fusion_options": {"depth": 1},
                "tokenizers": {"image": {"name": "patch", "options": {"in_channels": 1, "patch_size": 4, "image_size": 8}}},
            },
            "schedule": {"name": "constant"},  # the same learning rates whatever the run's length
            "training": {"steps": steps, "batch_size": 16, "seed": 0, "precision": "fp32", "checkpoint": {"every": 5}},
            "logging": {"tensorboard": False, "progress": False},
        }
        return Trainer(load_config(config), resume=resume).fit().run_dir

    straight = load_file(str(run("straight", 10) / "model" / "model.safetensors"))
    run("resumed", 5)
    resumed = load_file(str(run("resumed", 10, resume=True) / "model" / "model.safetensors"))
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, rtol=1e-4, atol=1e-5)
