"""The loop in-process: determinism, accumulation, bf16, NaN stop, run-directory contract."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from polymodal.training import Trainer, TrainingDiverged, load_config
from polymodal.training.checkpointing import latest_checkpoint


def _train(config: dict, *overrides: str, resume: bool = False):
    return Trainer(load_config(config, list(overrides)), resume=resume).fit()


def _weights(run_dir: Path) -> dict:
    return load_file(str(run_dir / "model" / "model.safetensors"))


def test_run_directory_contract(tiny) -> None:
    config = tiny(training={"eval_every": 10, "checkpoint": {"every": 5, "keep_last": 2, "best_metric": "accuracy"}}, logging={"tensorboard": True})
    result = _train(config)
    run = result.run_dir
    for name in ("config.yaml", "metrics.jsonl", "metrics.json", "report.md", "loss.png", "model/model.safetensors"):
        assert (run / name).exists(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    figures = json.loads((run / "metrics.json").read_text())
    assert figures["steps"] == 20 and "train_seconds" in figures and "best_accuracy" in figures
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "train"] == list(range(1, 21))
    assert {"loss", "lr", "grad_norm"} <= set(rows[0])
    kept = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert "step_00000020" in kept and "step_00000015" in kept and "best.json" in kept


def test_same_seed_same_weights_bit_exact(tiny) -> None:
    a = _weights(_train(tiny("a")).run_dir)
    b = _weights(_train(tiny("b")).run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_gradient_accumulation_matches_one_big_batch(tiny) -> None:
    base = tiny("one", data={"noise": 0.0}, training={"steps": 5})
    a = _weights(_train(base).run_dir)
    b = _weights(_train(tiny("acc", data={"noise": 0.0}, training={"steps": 5, "grad_accum": 4})).run_dir)
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_bf16_autocast_trains(tiny) -> None:
    result = _train(tiny(training={"precision": "bf16", "steps": 10}))
    assert result.final_loss < 2.5


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny) -> None:
    good = tiny(training={"steps": 10, "checkpoint": {"every": 5}})
    _train(good)
    run = Path(good["output_dir"])
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 11.*step_00000010"):
        _train(good, "training.steps=20", "data.noise=.inf", resume=True)
    assert latest_checkpoint(run / "checkpoints").step == 10


def test_ema_weights_are_exported_and_differ_from_the_raw_ones(tiny) -> None:
    from polymodal.training.checkpointing import latest_checkpoint

    result = _train(tiny("ema", training={"ema_decay": 0.9, "steps": 12}))
    exported = _weights(result.run_dir)
    raw = load_file(str(latest_checkpoint(result.run_dir / "checkpoints").path / "model.safetensors"))
    assert any(not torch.equal(exported[k], raw[k]) for k in raw)
    state = torch.load(latest_checkpoint(result.run_dir / "checkpoints").path / "trainer_state.pt", weights_only=True)
    assert state["ema"]["updates"] == 12
