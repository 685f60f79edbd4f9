"""SIGKILL at any moment, then ``--resume``: the final weights equal an uninterrupted run's bit for bit."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, cli_env, run_cli, write_config

pytestmark = pytest.mark.slow

STEPS = 120


def _config(tmp_path: Path, tiny, name: str) -> Path:
    config = tiny(
        name,
        training={"steps": STEPS, "ema_decay": 0.9, "checkpoint": {"every": 7, "keep_last": 2, "best_metric": "accuracy"}, "eval_every": 25},
    )
    return write_config(tmp_path / f"{name}.yaml", config)


def _start(config: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "polymodal", "train", str(config)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended before the kill: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.005)
    raise AssertionError("timed out waiting for the run to reach the kill point")


def _last_step(run: Path) -> int:
    path = run / "metrics.jsonl"
    if not path.exists():
        return 0
    lines = [line for line in path.read_text().splitlines() if line.endswith("}")]
    return json.loads(lines[-1])["step"] if lines else 0


def _final_bytes(run: Path) -> tuple[bytes, bytes]:
    return (run / "model" / "model.safetensors").read_bytes(), (run / "checkpoints" / f"step_{STEPS:08d}" / "model.safetensors").read_bytes()


@pytest.fixture
def reference(tmp_path: Path, tiny) -> tuple[bytes, bytes]:
    done = run_cli("train", str(_config(tmp_path, tiny, "reference")))
    assert done.returncode == 0, done.stderr
    return _final_bytes(tmp_path / "reference")


def test_sigkill_mid_run_then_resume_is_bit_exact(tmp_path: Path, tiny, reference) -> None:
    config = _config(tmp_path, tiny, "killed")
    run = tmp_path / "killed"
    proc = _start(config, cli_env())
    _wait_for(lambda: _last_step(run) >= 45, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = _last_step(run)
    assert killed_at < STEPS
    done = run_cli("train", str(config), "--resume")
    assert done.returncode == 0, done.stderr
    assert "resumed from step" in done.stdout
    assert _final_bytes(run) == reference


def test_sigkill_during_a_checkpoint_write_then_resume_is_bit_exact(tmp_path: Path, tiny, reference) -> None:
    config = _config(tmp_path, tiny, "torn")
    run = tmp_path / "torn"
    env = cli_env()
    env["POLYMODAL_TEST_CHECKPOINT_SLEEP"] = "30"
    proc = _start(config, env)
    # The hook writes this marker after the checkpoint's files and before its rename.
    _wait_for(lambda: (run / "checkpoint_writing").exists(), proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list((run / "checkpoints").glob(".tmp-step_*")), "the kill should leave a torn temporary checkpoint"
    assert not list((run / "checkpoints").glob("step_*")), "the torn checkpoint must not count as complete"
    done = run_cli("train", str(config), "--resume")
    assert done.returncode == 0, done.stderr
    assert not list((run / "checkpoints").glob(".tmp-*"))
    assert _final_bytes(run) == reference
