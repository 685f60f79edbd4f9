"""Helpers for the training tests: a tiny, fast config of the digits stand-in task."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def tiny_config(output_dir: Path, **sections) -> dict:
    config = {
        "task": "digits_classifier",
        "output_dir": str(output_dir),
        "model": {"dim": 16, "depth": 1, "num_heads": 2},
        "data": {"test_fraction": 0.2, "noise": 0.05},
        "optimizer": {"lr": 3e-3, "weight_decay": 0.05},
        "schedule": {"name": "cosine", "warmup_steps": 3},
        "training": {"steps": 20, "batch_size": 32, "seed": 1, "threads": 1},
        "logging": {"log_every": 1, "tensorboard": False, "progress": False},
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env.pop("POLYMODAL_TEST_CHECKPOINT_SLEEP", None)
    return env


def run_cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "polymodal", *args],
        cwd=ROOT,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def tiny(tmp_path: Path):
    return lambda name="run", **sections: tiny_config(tmp_path / name, **sections)
