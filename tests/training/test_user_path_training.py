"""Class weights, balanced sampling and augmentations in manifest_classifier: training
samples only, seeded, and a resumed run bit-exact with the uninterrupted one."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from polymodal.errors import ConfigError
from polymodal.training import Trainer, get_task, load_config


@pytest.fixture(scope="module")
def imbalanced_series(tmp_path_factory) -> Path:
    """Slow and fast sines, 24 slow and 6 fast training series (4:1), 10 of each to validate."""
    root = tmp_path_factory.mktemp("imbalanced")
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 32)
    lines = []
    for k, (label, split) in enumerate([("slow", "train")] * 24 + [("fast", "train")] * 6 + [("slow", "val"), ("fast", "val")] * 10):
        wave = np.sin(2 * np.pi * (6 if label == "fast" else 1.5) * t + rng.random()) + 0.1 * rng.standard_normal(32)
        np.save(root / f"s{k}.npy", wave[None])
        lines.append({"id": str(k), "time_series": f"s{k}.npy", "label": label, "split": split})
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return root


def config(root: Path, run_dir: Path, **data) -> dict:
    return {
        "task": "manifest_classifier",
        "output_dir": str(run_dir),
        "data": {"manifest": str(root / "manifest.jsonl"), "transforms": {"time_series": {"channels": 1}}, "eval_split": "val", "val_split": None, **data},
        "model": {"dim": 16, "num_heads": 2, "tokenizers": {"time_series": {"name": "patch_tst", "options": {"patch_len": 8, "stride": 8}}},
                  "fusion": "early_concat", "fusion_options": {"depth": 1}},
        "optimizer": {"lr": 3e-3, "weight_decay": 0.0},
        "schedule": {"name": "constant", "warmup_steps": 2},
        "training": {"steps": 30, "batch_size": 8, "seed": 0, "threads": 1},
        "logging": {"log_every": 10, "tensorboard": False, "progress": False},
    }


def test_balanced_sampling_and_class_weights(imbalanced_series, tmp_path):
    c = config(imbalanced_series, tmp_path / "run", sampling="balanced")
    c["model"]["class_weights"] = "balanced"
    task = get_task("manifest_classifier")(load_config(c))
    data = task.train_data()
    assert len(data) == 48  # 24 slow, the 6 fast ones four times each
    labels = [data.labels[i] for i in data.order]
    assert labels.count(0) == labels.count(1) == 24  # classes sorted: fast 0, slow 1
    assert data.order == task.__class__(load_config(c)).train_data().order  # seeded: the same view every run
    # scikit-learn's balanced rule: n / (classes · n_c) = 30 / (2 · 6), 30 / (2 · 24)
    torch.testing.assert_close(task._class_weights, torch.tensor([2.5, 0.625]))
    model = task.build_model()
    batch = data.get(torch.arange(8))
    out = task.loss(model, batch)
    logits = model(batch.inputs, present=batch.present).logits
    torch.testing.assert_close(out.loss, F.cross_entropy(logits, batch.labels, weight=torch.tensor([2.5, 0.625])))

    c["model"]["class_weights"] = [1.0]
    with pytest.raises(ConfigError, match="model.class_weights: expected 2 non-negative weights"):
        get_task("manifest_classifier")(load_config(c)).train_data()
    c["model"]["class_weights"] = "none"
    c["data"]["augment"] = {"point_cloud": {"jitter": 0.1}}
    with pytest.raises(ConfigError, match="data.augment.point_cloud"):
        get_task("manifest_classifier")(load_config(c))


def test_augmentations_apply_to_training_samples_only(imbalanced_series, tmp_path):
    c = config(imbalanced_series, tmp_path / "run", augment={"time_series": {"jitter": 0.05, "scaling": 0.1, "crop": 0.8}}, val_split="val", eval_split="test")
    lines = (imbalanced_series / "manifest.jsonl").read_text().splitlines()
    (imbalanced_series / "three.jsonl").write_text("\n".join(lines + [lines[-1].replace('"val"', '"test"').replace('"id": "49"', '"id": "t"')]) + "\n")
    c["data"]["manifest"] = str(imbalanced_series / "three.jsonl")
    task = get_task("manifest_classifier")(load_config(c))
    data = task.train_data()
    first, second = data.get(torch.arange(4)), data.get(torch.arange(4))
    raw = torch.stack([data.items[i]["time_series"].values for i in range(4)])
    assert not torch.allclose(first.inputs["time_series"].values, second.inputs["time_series"].values)  # drawn anew each time
    assert not torch.allclose(first.inputs["time_series"].values, raw)
    assert torch.equal(torch.stack([data.items[i]["time_series"].values for i in range(4)]), raw)  # the held samples untouched
    torch.manual_seed(5)
    again = data.get(torch.arange(4))
    torch.manual_seed(5)
    assert torch.equal(again.inputs["time_series"].values, data.get(torch.arange(4)).inputs["time_series"].values)  # the run's RNG decides
    val = task._split_samples("val", "data.val_split")
    assert not val.augment and torch.equal(val.get(torch.arange(3)).inputs["time_series"].values, val.get(torch.arange(3)).inputs["time_series"].values)


def test_resume_is_bit_exact_with_augmentation_and_balanced_sampling(imbalanced_series, tmp_path):
    from safetensors.torch import load_file

    def run(name: str, steps: int, resume: bool = False) -> Path:
        c = config(imbalanced_series, tmp_path / name, sampling="balanced", augment={"time_series": {"jitter": 0.05, "scaling": 0.1, "crop": 0.8}})
        c["model"]["class_weights"] = "balanced"
        c["training"].update(steps=steps, checkpoint={"every": 10})
        return Trainer(load_config(c), resume=resume).fit().run_dir

    straight = load_file(str(run("straight", 20) / "model" / "model.safetensors"))
    run("resumed", 10)
    resumed = load_file(str(run("resumed", 20, resume=True) / "model" / "model.safetensors"))
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    unaugmented = load_file(str(Trainer(load_config(config(imbalanced_series, tmp_path / "plain"))).fit().run_dir / "model" / "model.safetensors"))
    assert not all(torch.equal(straight[k], unaugmented[k]) for k in straight)  # the options do act
