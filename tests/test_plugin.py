"""A user's plugin (examples/plugin) installed for real, run end to end in fresh processes.

The plugin is installed offline with this venv's pip into a folder of its own
(``--target``), and every command runs in a new Python process with that folder on
``PYTHONPATH``: ``importlib.metadata`` must find its entry points there, as it would in
a user's environment. Without the folder, the plugin is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "plugin"
DIST = "polymodal-example-plugin"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example plugin installed (no dependencies, no index, no build isolation) into a folder."""
    tmp = tmp_path_factory.mktemp("plugin")
    source = tmp / "src"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return target


def run(args: list[str], cwd: Path, site: Path | None) -> subprocess.CompletedProcess:
    """``python ARGS`` in a fresh process, with the plugin installed when ``site`` is given."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "polymodal plugin" not in result.stderr, result.stderr  # no registry warned of a broken plugin
    return result.stdout


def test_entry_points_fill_the_registries(site, tmp_path):
    script = """
import json, importlib.metadata as md
import polymodal
from polymodal.modalities import MODALITIES, TOKENIZERS, modality_for_file
from polymodal.fusion import FUSIONS
from polymodal.training import TASKS
groups = {g: sorted(p.name for p in md.entry_points(group=g) if p.dist.name == "polymodal-example-plugin")
          for g in ("polymodal.modalities", "polymodal.tokenizers", "polymodal.fusions", "polymodal.tasks")}
print(json.dumps({
    "groups": groups,
    "modalities": polymodal.list_modalities(),
    "tokenizers": polymodal.list_tokenizers("spectrum"),
    "fusions": polymodal.list_fusions(),
    "tasks": TASKS.names(),
    "names": [MODALITIES.get("spectrum").name, FUSIONS.get("gated_late").name, TASKS.get("focal_classifier").name],
    "origin": [MODALITIES.origin("spectrum").distribution, FUSIONS.origin("gated_late").version, MODALITIES.origin("image")],
    "route": modality_for_file("a/b.SPEC").name,
}))
"""
    got = json.loads(ok(run(["-c", script], tmp_path, site)))
    assert got["groups"] == {
        "polymodal.modalities": ["spectrum"],
        "polymodal.tokenizers": ["spectrum_bands"],
        "polymodal.fusions": ["gated_late"],
        "polymodal.tasks": ["focal_classifier"],
    }
    assert "spectrum" in got["modalities"] and "image" in got["modalities"]
    assert got["tokenizers"] == ["spectrum_bands"]
    assert "gated_late" in got["fusions"] and "late" in got["fusions"]
    assert {"focal_classifier", "manifest_classifier"} <= set(got["tasks"])
    assert got["names"] == ["spectrum", "gated_late", "focal_classifier"]  # the entry point's name, recorded on the entry
    assert got["origin"] == [DIST, "0.1.0", None]
    assert got["route"] == "spectrum"
    # Without the plugin, none of it exists.
    bare = json.loads(ok(run(["-c", "import json, polymodal; print(json.dumps(polymodal.list_modalities()))"], tmp_path, None)))
    assert "spectrum" not in bare and "image" in bare


def _config(data: Path, run_dir: Path) -> dict:
    return {
        "task": "focal_classifier",
        "output_dir": str(run_dir),
        "data": {
            "manifest": str(data / "manifest.jsonl"),
            "transforms": {
                "spectrum": {"start": 900, "stop": 1700, "points": 64},
                "image": {"size": 16, "crop": 16, "mean": 0.5, "std": 0.25},
            },
        },
        "model": {
            "dim": 32,
            "num_heads": 4,
            "tokenizers": {
                "spectrum": {"name": "spectrum_bands", "options": {"points": 64, "band": 4}},
                "image": {"name": "patch", "options": {"in_channels": 1, "patch_size": 4, "image_size": 16}},
            },
            "fusion": "gated_late",
            "fusion_options": {"depth": 1},
            "modality_dropout": 0.3,
            "gamma": 2.0,
        },
        "optimizer": {"lr": 3e-3},
        "training": {"steps": 400, "batch_size": 16, "threads": 1, "seed": 0},
        "logging": {"log_every": 100, "tensorboard": False, "progress": False},
    }


def _nearest_centroid(data: Path, site: Path) -> float:
    """The classic baseline on the same split: nearest class mean of the resampled, SNV spectra."""
    sys.path.insert(0, str(site))
    try:
        from polymodal_example_plugin.spectrum import SpectrumTransform, read_spectrum
    finally:
        sys.path.remove(str(site))
    transform = SpectrumTransform(900, 1700, 64)
    lines = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    x = {s: np.stack([transform(read_spectrum(data / l["spectrum"])).numpy() for l in lines if l["split"] == s]) for s in ("train", "val")}
    y = {s: np.array([l["label"] for l in lines if l["split"] == s]) for s in ("train", "val")}
    classes = sorted(set(y["train"]))
    centroids = np.stack([x["train"][y["train"] == c].mean(0) for c in classes])
    predicted = np.array(classes)[((x["val"][:, None] - centroids[None]) ** 2).sum(-1).argmin(1)]
    return float((predicted == y["val"]).mean())


@pytest.mark.slow
def test_train_eval_predict_embed_load_in_fresh_processes(site, tmp_path):
    data = tmp_path / "fabrics"
    ok(run(["-c", f"from polymodal_example_plugin.synthetic import write_fabrics; write_fabrics({str(data)!r})"], tmp_path, site))
    run_dir = tmp_path / "runs" / "fabrics"
    (tmp_path / "run.yaml").write_text(json.dumps(_config(data, run_dir)))  # JSON is YAML

    out = ok(run(["-m", "polymodal", "train", "run.yaml"], tmp_path, site))
    assert "trained 400 steps" in out
    saved = json.loads((run_dir / "model" / "config.json").read_text())
    assert saved["requires"] == [{"distribution": DIST, "version": "0.1.0"}]
    assert saved["fusion"] == "gated_late" and saved["tokenizers"]["spectrum"]["name"] == "spectrum_bands"

    out = ok(run(["-m", "polymodal", "eval", str(run_dir)], tmp_path, site))
    figures = json.loads((run_dir / "eval.json").read_text())
    assert {"accuracy", "macro_f1", "majority_baseline"} <= set(figures) and "accuracy" in out
    baseline = _nearest_centroid(data, site)
    # 3 fibres, 44 held-out samples, 40% without a photo. Measured on the shared machine:
    # accuracy 0.95, nearest centroid on the spectra 0.98 (the generated spectra suit it),
    # majority class 0.39.
    print(f"plugin run: {figures}, nearest centroid {baseline:.3f}")
    assert figures["accuracy"] >= max(0.6, figures["majority_baseline"] + 0.2), (figures, baseline)

    lines = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    val = [line for line in lines if line["split"] == "val"]
    spectra = [str(data / line["spectrum"]) for line in val[:6]]
    photo = str(data / next(line["image"] for line in val if "image" in line))
    out = ok(run(["-m", "polymodal", "predict", str(run_dir), *spectra, photo, "--json"], tmp_path, site))
    predictions = [json.loads(line) for line in out.splitlines()]
    assert [p["file"] for p in predictions] == [*spectra, photo]  # .spec routed to the plugin's modality
    assert all(p["label"] in ("cotton", "polyester", "wool") and 0 < p["probability"] <= 1 for p in predictions)

    ok(run(["-m", "polymodal", "embed", str(run_dir), spectra[0], photo, "--out", "emb.npy"], tmp_path, site))
    embeddings = np.load(tmp_path / "emb.npy")
    assert embeddings.shape == (2, 32) and np.isfinite(embeddings).all()

    script = f"""
import json, polymodal
model = polymodal.load({str(run_dir / "model")!r})
probs = model.predict_files("spectrum", {spectra!r})
print(json.dumps({{"type": type(model.model.fusion).__name__, "probs": probs.tolist(), "classes": model.classes}}))
"""
    loaded = json.loads(ok(run(["-c", script], tmp_path, site)))
    assert loaded["type"] == "GatedLateFusion" and loaded["classes"] == ["cotton", "polyester", "wool"]
    by_cli = [p["probability"] for p in predictions[:6]]
    assert np.allclose([max(row) for row in loaded["probs"]], by_cli, atol=1e-5)

    # Without the plugin: a CheckpointError that names the package to install, and one CLI line.
    script = f"""
import polymodal
from polymodal.errors import CheckpointError
try:
    polymodal.load({str(run_dir / "model")!r})
except CheckpointError as error:
    print(error)
"""
    message = ok(run(["-c", script], tmp_path, None))
    assert f"pip install '{DIST}==0.1.0'" in message and "requires" in message
    bare = run(["-m", "polymodal", "predict", str(run_dir), spectra[0]], tmp_path, None)
    assert bare.returncode == 2 and bare.stderr.startswith("error: task: expected one of") and "focal_classifier" in bare.stderr


def test_extending_doc_examples_run_with_the_plugin_installed(site, tmp_path):
    """docs/extending.md's ```python blocks, in order, in one namespace, in a fresh process."""
    import re

    doc = ROOT / "docs" / "extending.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 5
    (tmp_path / "doc.py").write_text("\n".join(blocks))
    out = ok(run(["doc.py"], tmp_path, site))
    assert "tokenizer.spectrum_bands.bands: expected a known key" in out
    assert (tmp_path / "model" / "config.json").is_file()
