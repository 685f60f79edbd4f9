"""``--resume`` verifies checkpoints; the exported model is the best on validation (issue 14
family 2, issue 13's trainer part)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from polymodal.training import Trainer, load_config
from polymodal.training.checkpointing import DamagedCheckpoint, list_checkpoints, verify_checkpoint


def _train(config: dict, *overrides: str, **kwargs):
    return Trainer(load_config(config, overrides), **kwargs).fit()


def _weights(run: Path, folder: str = "model") -> dict[str, torch.Tensor]:
    return load_file(str(run / folder / "model.safetensors"))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated weights": lambda ckpt: _truncate(ckpt / "model.safetensors"),
    "a flipped byte in the trainer state": lambda ckpt: _flip_a_byte(ckpt / "trainer_state.pt"),
    "no checksums (a half-finished copy)": lambda ckpt: (ckpt / "checksums.json").unlink(),
    "a missing file": lambda ckpt: (ckpt / "trainer_state.pt").unlink(),
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, torch.Tensor]:
    from .conftest import tiny_config

    config = tiny_config(tmp_path_factory.mktemp("ref") / "run", training={"steps": 12, "checkpoint": {"every": 4, "keep_last": 3}})
    return _weights(_train(config).run_dir)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_resume_skips_a_damaged_newest_checkpoint_and_stays_bit_exact(damage: str, tiny, reference, capsys) -> None:
    config = tiny(training={"steps": 12, "checkpoint": {"every": 4, "keep_last": 3}})
    run = _train(config).run_dir
    newest = list_checkpoints(run / "checkpoints")[-1].path
    DAMAGE[damage](newest)
    assert verify_checkpoint(list_checkpoints(run / "checkpoints")[-1]) is not None
    result = _train(config, resume=True)
    assert result.resumed_from == 8
    assert f"skipping the damaged checkpoint {newest}" in capsys.readouterr().err
    resumed = _weights(run)
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
    assert all(verify_checkpoint(c) is None for c in list_checkpoints(run / "checkpoints"))


def test_resume_refuses_when_no_checkpoint_is_intact(tiny) -> None:
    config = tiny(training={"steps": 8, "checkpoint": {"every": 4}})
    run = _train(config).run_dir
    for info in list_checkpoints(run / "checkpoints"):
        _truncate(info.path / "model.safetensors")
    with pytest.raises(DamagedCheckpoint, match=r"expected at least one intact checkpoint to resume from, got step_00000008: .*step_00000004"):
        _train(config, "training.steps=12", resume=True)


def test_a_damaged_metrics_log_does_not_stop_a_resume(tiny) -> None:
    config = tiny(training={"steps": 8, "checkpoint": {"every": 4}})
    run = _train(config).run_dir
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 9, "spl')  # a line cut by a crash
    (run / "metrics.json").write_text("{not json")
    assert _train(config, "training.steps=10", resume=True).steps == 10
    assert json.loads((run / "metrics.json").read_text())["steps"] == 10


def test_the_exported_model_is_the_best_on_validation_and_the_last_is_kept(tiny) -> None:
    # best_mode "min" on accuracy picks an early, poor step: the export must follow it, not the last step.
    config = tiny(training={"steps": 20, "eval_every": 2, "checkpoint": {"best_metric": "accuracy", "best_mode": "min", "keep_last": 1}})
    run = _train(config).run_dir
    figures = json.loads((run / "metrics.json").read_text())
    best_step = figures["best_step"]
    assert best_step < 20 and "best_accuracy" in figures
    best = load_file(str(run / "checkpoints" / f"step_{best_step:08d}" / "model.safetensors"))
    last = load_file(str(run / "checkpoints" / "step_00000020" / "model.safetensors"))
    exported, kept = _weights(run), _weights(run, "model_last")
    assert all(torch.equal(exported[k], best[k]) for k in best)
    assert all(torch.equal(kept[k], last[k]) for k in last)
    assert "exported model: step" in (run / "report.md").read_text()


def test_best_metric_without_evaluations_is_refused_before_anything_is_written(tiny, tmp_path) -> None:
    from polymodal.errors import ConfigError

    with pytest.raises(ConfigError, match="training.eval_every"):
        _train(tiny("none", training={"checkpoint": {"best_metric": "accuracy"}}))
    assert not (tmp_path / "none").exists()
