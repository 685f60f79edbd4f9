"""predict / embed read every format the readers read, on models trained from manifests.

Before: `polymodal predict` refused `.npy`, `.npz` and frame folders, sent every `.csv` to
tabular, had no `--modality`; video, array series and graph models could not predict from
the CLI and an IMU model could not read its own CSV files. The graph tokenizer's `num_heads`
was 12 whatever the model's (`RuntimeError: The size of tensor a (4) must match ... (12)`).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import polymodal
from polymodal.cli import main as cli_main
from polymodal.errors import ConfigError
from polymodal.modalities.video import read_video
from polymodal.training import Trainer, get_task, load_config


def train(root: Path, run_dir: Path, transforms: dict, tokenizers: dict, steps: int = 40, **model) -> Path:
    c = {
        "task": "manifest_classifier",
        "output_dir": str(run_dir),
        "data": {"manifest": str(root / "manifest.jsonl"), "transforms": transforms, "val_split": None, "eval_split": "val"},
        "model": {"dim": 32, "num_heads": 4, "tokenizers": tokenizers, "fusion": "early_concat", "fusion_options": {"depth": 1}, **model},
        "optimizer": {"lr": 3e-3, "weight_decay": 0.0},
        "schedule": {"name": "constant", "warmup_steps": 5},
        "training": {"steps": steps, "batch_size": 16, "seed": 0, "threads": 1},
        "logging": {"log_every": 20, "tensorboard": False, "progress": False},
    }
    return Trainer(load_config(c)).fit().run_dir


def write_manifest(root: Path, lines: list[dict]) -> None:
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def predicted(capsys, args: list[str]) -> list[dict]:
    capsys.readouterr()
    assert cli_main(["predict", *args, "--json"]) == 0, capsys.readouterr().err
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def moving_square(horizontal: bool, rng: np.random.Generator, frames: int = 6, size: int = 16) -> np.ndarray:
    clip = np.zeros((frames, size, size), dtype=np.uint8)
    start = rng.integers(0, size - 4)
    for t in range(frames):
        x, y = (t * 2 % (size - 4), start) if horizontal else (start, t * 2 % (size - 4))
        clip[t, y : y + 4, x : x + 4] = 255
    return clip


def test_video_from_npy_clips_and_grey_frame_folders(tmp_path, capsys):
    rng = np.random.default_rng(0)
    lines = []
    for k in range(48):
        horizontal = k % 2 == 0
        clip = moving_square(horizontal, rng)
        if k % 3 == 0:  # some samples are folders of grey PNG frames, the others .npy [T, H, W]
            folder = tmp_path / f"clip{k}"
            folder.mkdir()
            for t, frame in enumerate(clip):
                Image.fromarray(frame).save(folder / f"{t:02d}.png")
            path = folder.name
        else:
            np.save(tmp_path / f"clip{k}.npy", clip)
            path = f"clip{k}.npy"
        lines.append({"id": str(k), "video": path, "label": "across" if horizontal else "down", "split": "train" if k < 40 else "val"})
    write_manifest(tmp_path, lines)
    assert read_video(tmp_path / "clip0").shape == (6, 16, 16, 1)  # grey frames stay grey
    transforms = {"video": {"size": [16, 16], "num_frames": 6, "channels": 1, "mean": [0.5], "std": [0.5]}}
    # in_channels, num_frames and image_size follow the transform: only the tubelet is chosen.
    run = train(tmp_path, tmp_path / "run", transforms, {"video": {"name": "tubelet", "options": {"tubelet": [2, 8]}}}, steps=60)
    saved = json.loads((run / "model" / "config.json").read_text())["tokenizers"]["video"]["options"]
    assert saved == {"in_channels": 1, "image_size": [16, 16], "num_frames": 6, "tubelet": [2, 8]}

    # The model's own training files, both kinds, through the CLI: .npy and folders route to video.
    paths = [str(tmp_path / line["video"]) for line in lines]
    out = predicted(capsys, [str(run), *paths])
    assert [p["file"] for p in out] == paths
    accuracy = np.mean([p["label"] == line["label"] for p, line in zip(out, lines)])
    assert accuracy >= 0.9, accuracy
    assert cli_main(["embed", str(run), paths[0], paths[1], "--out", str(tmp_path / "e.npy")]) == 0
    assert np.load(tmp_path / "e.npy").shape == (2, 32)


def test_imu_csv_series_and_a_ts_archive(tmp_path, capsys):
    """An IMU model reads its own CSV files (no tabular stream: .csv goes to the series); a
    `.ts` archive is one manifest line for many samples, and one prediction per series."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 32)
    lines, cases = [], []
    for k in range(40):
        walking = k % 2 == 0
        series = np.stack([np.sin(2 * np.pi * (6 if walking else 1.5) * t + rng.random()) for _ in range(3)]) + 0.1 * rng.standard_normal((3, 32))
        np.savetxt(tmp_path / f"imu{k}.csv", series.T, delimiter=",", header="ax,ay,az", comments="")
        lines.append({"id": str(k), "time_series": f"imu{k}.csv", "label": "walk" if walking else "sit", "split": "train" if k < 32 else "val"})
        cases.append(":".join(",".join(f"{v:.5f}" for v in row) for row in series) + (":walk" if walking else ":sit"))
    header = "@problemName imu\n@timeStamps false\n@univariate false\n@dimensions 3\n@classLabel true sit walk\n@data\n"
    (tmp_path / "train.ts").write_text(header + "\n".join(cases[:32]) + "\n")
    (tmp_path / "val.ts").write_text(header + "\n".join(cases[32:]) + "\n")
    write_manifest(tmp_path, lines)
    transforms = {"time_series": {"channels": 3}}
    tokenizers = {"time_series": {"name": "patch_tst", "options": {"patch_len": 8, "stride": 8}}}  # channels: the transform's
    run = train(tmp_path, tmp_path / "csv_run", transforms, tokenizers)
    out = predicted(capsys, [str(run), *(str(tmp_path / line["time_series"]) for line in lines)])
    assert np.mean([p["label"] == line["label"] for p, line in zip(out, lines)]) >= 0.9
    assert cli_main(["predict", str(run), str(tmp_path / "imu0.csv"), "--modality", "tabular"]) == 2  # not the model's

    archive = tmp_path / "archive"
    archive.mkdir()
    write_manifest(archive, [{"id": "train", "time_series": "../train.ts", "split": "train"}, {"id": "val", "time_series": "../val.ts", "split": "val"}])
    task = get_task("manifest_classifier")
    ts_run = train(archive, tmp_path / "ts_run", transforms, tokenizers)
    c = load_config(ts_run / "config.yaml")
    manifest = task(c).manifest
    assert len(manifest) == 40 and manifest[0].id == "train#0" and manifest.classes == ("sit", "walk")
    assert task(c).report(ts_run)["accuracy"] >= 0.9
    out = predicted(capsys, [str(ts_run), str(tmp_path / "val.ts")])  # .ts routes to the series by suffix
    assert [p["file"] for p in out] == [f"{tmp_path / 'val.ts'}#{k}" for k in range(8)]
    assert np.mean([p["label"] == line["label"] for p, line in zip(out, lines[32:])]) >= 0.9
    assert cli_main(["embed", str(ts_run), str(tmp_path / "val.ts"), str(tmp_path / "imu0.csv"), "--out", str(tmp_path / "e.npy")]) == 0
    assert np.load(tmp_path / "e.npy").shape == (9, 32)  # 8 series of the archive, then the CSV file


def test_graphs_from_npz_with_the_models_heads(tmp_path, capsys):
    lines = []
    for k in range(40):
        n = 6 + k % 5
        cycle = k % 2 == 0
        edges = [(i, (i + 1) % n) for i in range(n)] if cycle else [(0, i) for i in range(1, n)]
        np.savez(tmp_path / f"g{k}.npz", edge_index=np.array(edges).T, x=np.ones((n, 1), np.float32))
        lines.append({"id": str(k), "graph": f"g{k}.npz", "label": "cycle" if cycle else "star", "split": "train" if k < 32 else "val"})
    write_manifest(tmp_path, lines)
    # num_heads unset: the model's 4 (it was 12 whatever the model's, and the first step crashed).
    run = train(tmp_path, tmp_path / "run", {"graph": {}}, {"graph": {"name": "graphormer"}})
    model = polymodal.load(run / "model")
    assert model.tokenizer_specs["graph"].options["num_heads"] == 4
    out = predicted(capsys, [str(run), *(str(tmp_path / line["graph"]) for line in lines)])  # .npz: the only reader here is the graph's
    assert np.mean([p["label"] == line["label"] for p, line in zip(out, lines)]) >= 0.9
    with pytest.raises(ConfigError, match="model.tokenizers.graph.options.num_heads: expected the model's num_heads 4"):
        train(tmp_path, tmp_path / "wrong", {"graph": {}}, {"graph": {"name": "graphormer", "options": {"num_heads": 12}}})
    with pytest.raises(ConfigError, match="model.tokenizers.graph.options.dim"):
        train(tmp_path, tmp_path / "wrong", {"graph": {}}, {"graph": {"name": "graphormer", "options": {"dim": 64}}})
