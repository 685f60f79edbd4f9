"""Tuning the shared encoder: frozen, LoRA adapters, full fine-tuning, or re-initialised,
each saved and reloaded to the same predictions (a small pretrained text model stands in
for all-MiniLM-L6-v2, through the same path)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import polymodal
from polymodal.encoder import EncoderConfig, TransformerEncoder
from polymodal.errors import ConfigError
from polymodal.modalities.text import TextTokenizer, TextTokenizerConfig, TextTransform
from polymodal.models.text_model import TextEncoderModel
from polymodal.training import Trainer, get_task, load_config

WORDS = {"sports": ["goal", "team", "match", "coach"], "weather": ["rain", "storm", "snow", "wind"]}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny text encoder saved as a polymodal model folder, and a manifest of sentences."""
    root = tmp_path_factory.mktemp("tuning")
    lines, texts = [], []
    for k in range(48):
        topic = "sports" if k % 2 else "weather"
        text = f"news about the {WORDS[topic][k // 2 % 4]} today"
        texts.append(text)
        lines.append({"id": str(k), "text": text, "label": topic, "split": "train" if k < 32 else "val" if k < 40 else "test"})
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    torch.manual_seed(0)
    transform = TextTransform.train_wordpiece(texts, vocab_size=80, max_length=16)
    model = TextEncoderModel(
        TextTokenizer(TextTokenizerConfig(vocab_size=transform.vocab_size, dim=32, max_positions=16)),
        TransformerEncoder(EncoderConfig(dim=32, depth=2, num_heads=4, norm_first=False, cls_token=False, pool="mean")),
        text_transform=transform,
    )
    model.save_pretrained(root / "tiny_text_model")
    return root / "manifest.jsonl", root / "tiny_text_model"


def run(manifest: Path, source: Path, run_dir: Path, **shared) -> Path:
    c = {
        "task": "manifest_classifier",
        "output_dir": str(run_dir),
        "data": {"manifest": str(manifest), "transforms": {"text": {}}},
        "model": {"tokenizers": {"text": {"name": "text"}}, "shared_encoder": {"pretrained": str(source), **shared}},
        "optimizer": {"lr": 1e-2, "weight_decay": 0.0},
        "schedule": {"name": "constant", "warmup_steps": 2},
        "training": {"steps": 15, "batch_size": 8, "seed": 0, "threads": 1, "eval_every": 15},
        "logging": {"log_every": 5, "tensorboard": False, "progress": False},
    }
    return Trainer(load_config(c)).fit().run_dir


def encoder_state(folder: Path) -> dict[str, torch.Tensor]:
    return {k.split("fusion.encoder.", 1)[1]: v for k, v in load_file(str(folder / "model.safetensors")).items() if "fusion.encoder." in k}


@pytest.mark.parametrize("setting", ["frozen", "lora", "full", "random"])
def test_each_setting_trains_what_it_says_and_reloads(pretrained, tmp_path, setting):
    manifest, source = pretrained
    options = {"frozen": {}, "lora": {"lora": {"r": 4, "alpha": 8}}, "full": {"frozen": False}, "random": {"weights": "random"}}[setting]
    task = get_task("manifest_classifier")(load_config({
        "task": "manifest_classifier", "data": {"manifest": str(manifest), "transforms": {"text": {}}, "val_split": None, "eval_split": "val"},
        "model": {"tokenizers": {"text": {"name": "text"}}, "shared_encoder": {"pretrained": str(source), **options}},
    }))
    built = task.build_model()
    trainable = {n for n, p in built.named_parameters() if p.requires_grad}
    encoder_trainable = {n for n in trainable if ".encoder." in n}
    if setting in ("frozen", "random"):
        assert not encoder_trainable and not any(".tokenizers.text." in n for n in trainable)
    elif setting == "lora":
        assert encoder_trainable and all(n.endswith(("lora_a", "lora_b")) for n in encoder_trainable)
    else:
        assert len(encoder_trainable) == len([n for n, _ in built.model.fusion.encoder.named_parameters()])
        assert any(".tokenizers.text." in n for n in trainable)  # the text embeddings tune too

    run_dir = run(manifest, source, tmp_path / setting, **options)
    original = {k.removeprefix("encoder."): v for k, v in polymodal.load(source).state_dict().items() if k.startswith("encoder.")}
    saved = encoder_state(run_dir / "model")
    base = {k: v for k, v in saved.items() if not k.endswith(("lora_a", "lora_b"))}
    same = all(torch.equal(base[k], original[k]) for k in original)
    assert same == (setting in ("frozen", "lora"))  # LoRA keeps the base weights and saves the adapters beside them
    if setting == "lora":
        assert any(k.endswith("lora_b") and v.abs().sum() > 0 for k, v in saved.items())
    reloaded = polymodal.load(run_dir / "model")
    config = json.loads((run_dir / "model" / "config.json").read_text())
    assert (config["encoder_lora"] is not None) == (setting == "lora") and config["freeze_encoder"] == (setting != "full")
    assert reloaded.model.fusion.encoder.frozen == (setting != "full")
    # The in-memory model's last validation (logged while training) equals the reloaded one's.
    in_memory = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][-1]
    assert in_memory["split"] == "eval" and in_memory["step"] == 15
    again = task.__class__(load_config(run_dir / "config.yaml")).report(run_dir, split="val")
    assert again["accuracy"] == in_memory["accuracy"] and again["macro_f1"] == pytest.approx(in_memory["macro_f1"])


def test_lora_with_full_fine_tuning_is_refused(pretrained):
    manifest, source = pretrained
    with pytest.raises(ConfigError, match="model.shared_encoder.lora"):
        get_task("manifest_classifier")(load_config({
            "task": "manifest_classifier", "data": {"manifest": str(manifest), "transforms": {"text": {}}},
            "model": {"tokenizers": {"text": {"name": "text"}}, "shared_encoder": {"pretrained": str(source), "frozen": False, "lora": {"r": 4}}},
        }))


def test_full_fine_tuning_at_a_fraction_of_the_rate(pretrained):
    from polymodal.training.config import OptimizerConfig
    from polymodal.training.optim import build_optimizer

    manifest, source = pretrained
    task = get_task("manifest_classifier")(load_config({
        "task": "manifest_classifier", "data": {"manifest": str(manifest), "transforms": {"text": {}}},
        "model": {"tokenizers": {"text": {"name": "text"}}, "shared_encoder": {"pretrained": str(source), "frozen": False, "lr_scale": 0.1}},
    }))
    model = task.build_model()
    optimizer = build_optimizer(model, OptimizerConfig(lr=1e-3))
    rate = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    names = dict(model.named_parameters())
    assert rate[id(names["model.fusion.encoder.blocks.0.attn.qkv.weight"])] == pytest.approx(1e-4)
    assert rate[id(names["model.tokenizers.text.word_embeddings.weight"])] == pytest.approx(1e-4)
    assert rate[id(names["model.head.weight"])] == pytest.approx(1e-3)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == sum(p.requires_grad for p in model.parameters())
