"""Several fields of one modality in a row: two IMUs (`time_series:wrist`, `time_series:ankle`).

Before: a manifest row held one file per modality, so two sensors or two views of a sample
could not be one sample.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import polymodal
from polymodal.cli import main as cli_main
from polymodal.data.manifest import Manifest
from polymodal.errors import InputError
from polymodal.training import Trainer, get_task, load_config


@pytest.fixture(scope="module")
def two_sensors(tmp_path_factory) -> Path:
    """Each sample: a wrist and an ankle series, each slow or fast; the class needs both."""
    root = tmp_path_factory.mktemp("two_sensors")
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 32)
    lines = []
    for k in range(96):
        wrist_fast, ankle_fast = bool(k % 2), bool(k // 2 % 2)
        for name, fast in (("wrist", wrist_fast), ("ankle", ankle_fast)):
            wave = np.sin(2 * np.pi * (6 if fast else 1.5) * t + rng.random()) + 0.1 * rng.standard_normal(32)
            np.savetxt(root / f"{name}{k}.csv", wave[:, None], delimiter=",")
        label = f"{'fast' if wrist_fast else 'slow'}-{'fast' if ankle_fast else 'slow'}"
        lines.append({"id": str(k), "time_series:wrist": f"wrist{k}.csv", "time_series:ankle": f"ankle{k}.csv", "label": label, "split": "train" if k < 80 else "val"})
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return root


def test_two_fields_of_one_modality_are_two_streams(two_sensors, tmp_path, capsys):
    tokenizer = {"name": "patch_tst", "options": {"patch_len": 8, "stride": 8}}
    c = {
        "task": "manifest_classifier",
        "output_dir": str(tmp_path / "run"),
        "data": {"manifest": str(two_sensors / "manifest.jsonl"), "val_split": None, "eval_split": "val",
                 "transforms": {"time_series:wrist": {"channels": 1}, "time_series:ankle": {"channels": 1}}},
        "model": {"dim": 32, "num_heads": 4, "tokenizers": {"time_series:wrist": tokenizer, "time_series:ankle": tokenizer},
                  "fusion": "early_concat", "fusion_options": {"depth": 1}},
        "optimizer": {"lr": 3e-3, "weight_decay": 0.0},
        "schedule": {"name": "constant", "warmup_steps": 5},
        "training": {"steps": 80, "batch_size": 16, "seed": 0, "threads": 1},
        "logging": {"log_every": 20, "tensorboard": False, "progress": False},
    }
    # A field name holds a colon, not a dot, so that overrides can address it.
    config = load_config(c, ["data.transforms.time_series:ankle.normalize=instance"])
    assert config.data["transforms"]["time_series:ankle"] == {"channels": 1, "normalize": "instance"}
    run = Trainer(config).fit().run_dir
    model = polymodal.load(run / "model")
    assert model.modalities == ["time_series:ankle", "time_series:wrist"]
    assert {k.split(".")[2] for k in model.state_dict() if k.startswith("model.tokenizers.")} == {"time_series:ankle", "time_series:wrist"}
    figures = get_task("manifest_classifier")(config).report(run)
    assert figures["accuracy"] >= 0.9, figures  # one sensor alone: at most 0.5

    # One sensor's files: --modality names the stream (both read .csv, so the suffix cannot).
    files = [str(two_sensors / f"ankle{k}.csv") for k in range(80, 96)]
    assert cli_main(["predict", str(run), *files]) == 2
    capsys.readouterr()
    assert cli_main(["predict", str(run), *files, "--modality", "time_series:ankle", "--json"]) == 0
    labels = [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]
    ankle = ["fast" if k // 2 % 2 else "slow" for k in range(80, 96)]
    assert np.mean([p.split("-")[1] == a for p, a in zip(labels, ankle)]) >= 0.8  # the ankle's half of the class


def test_field_names_are_checked(tmp_path):
    (tmp_path / "a.csv").write_text("1\n2\n")
    for bad, match in [
        ({"time_series:": "a.csv"}, "unknown field"),
        ({"time_series:left.x": "a.csv"}, "unknown field"),
        ({"nosuch:left": "a.csv"}, "unknown field"),
        ({"time_series": ["a.csv", "a.csv"]}, "one file per field.*time_series:<name>"),
    ]:
        (tmp_path / "m.jsonl").write_text(json.dumps({"id": "1", **bad}) + "\n")
        with pytest.raises(InputError, match=match):
            Manifest.load(tmp_path / "m.jsonl")
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "1", "time_series:left": "a.csv", "text:title": "a title"}) + "\n")
    assert Manifest.load(tmp_path / "m.jsonl")[0].inputs["text:title"] == "a title"  # a text field holds text
