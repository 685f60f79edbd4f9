"""Run folders are never damaged by a failed or concurrent command (issue 14, family 1).

A fresh run refuses a non-empty folder, ``--overwrite`` keeps the old run until the new one
wrote a checkpoint, impossible output paths are refused, and one writer holds a lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from polymodal.errors import ConfigError
from polymodal.training import Trainer, load_config
from polymodal.training.run_folder import LOCK_NAME, PREVIOUS_NAME, RunLock, RunLocked, check_output_dir
from polymodal.training.trainer import TrainingDiverged


def folder_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path → SHA-256): equal digests, untouched folder."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _train(config: dict, *overrides: str, **kwargs):
    return Trainer(load_config(config, overrides), **kwargs).fit()


@pytest.fixture
def finished(tiny) -> tuple[dict, Path]:
    config = tiny(training={"steps": 4})
    _train(config)
    return config, Path(config["output_dir"])


def test_a_fresh_run_refuses_a_folder_holding_a_run_and_leaves_it_untouched(finished) -> None:
    config, run = finished
    before = folder_digest(run)
    with pytest.raises(ConfigError, match=r"output_dir: expected an empty or new folder \(pass --overwrite.*holds checkpoints"):
        _train(config)
    assert folder_digest(run) == before


def test_overwrite_replaces_a_run(finished) -> None:
    config, run = finished
    old = load_file(str(run / "model" / "model.safetensors"))
    result = _train(config, "training.steps=6", "training.seed=5", overwrite=True)
    assert result.steps == 6 and not (run / PREVIOUS_NAME).exists()
    new = load_file(str(run / "model" / "model.safetensors"))
    assert any(not torch.equal(old[k], new[k]) for k in old)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000006"]


def test_overwrite_that_fails_before_its_first_checkpoint_puts_the_old_run_back(finished) -> None:
    config, run = finished
    before = folder_digest(run)
    with pytest.raises(TrainingDiverged):
        _train(config, "data.noise=.inf", overwrite=True)
    assert folder_digest(run) == before
    assert not (run / PREVIOUS_NAME).exists() and not (run / LOCK_NAME).exists()


def test_a_killed_overwrite_is_undone_by_the_next_command(finished) -> None:
    """A process killed after moving the old run aside: the next train puts it back first."""
    config, run = finished
    before = folder_digest(run)
    aside = run / PREVIOUS_NAME
    aside.mkdir()
    for entry in list(run.iterdir()):
        if entry.name != PREVIOUS_NAME:
            entry.rename(aside / entry.name)
    (run / "config.yaml").write_text("half of a new run\n")
    result = _train(config, "training.steps=6", resume=True)
    assert result.resumed_from == 4 and not aside.exists()
    assert folder_digest(run)["checkpoints/step_00000004/model.safetensors"] == before["checkpoints/step_00000004/model.safetensors"]


def test_config_errors_found_before_anything_is_written(tiny, tmp_path: Path) -> None:
    config = tiny("never")
    with pytest.raises(ConfigError, match="training.batch_size"):
        _train(config, "training.grad_accum=5")
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("path", ["", ".", "/", "  "])
def test_output_paths_that_cannot_hold_a_run_are_refused(path: str, tiny, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()  # an unrelated folder the run must never delete
    (tmp_path / "checkpoints" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"^output_dir: expected a folder"):
        _train(tiny(), f"output_dir={path!r}" if path.strip() else "output_dir=''", overwrite=True)
    assert (tmp_path / "checkpoints" / "keep.txt").read_text() == "mine"


def test_an_output_dir_that_is_a_file_or_under_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"which is a file"):
        check_output_dir(tmp_path / "file")
    with pytest.raises(ConfigError, match=r"lies under the file .*file"):
        check_output_dir(tmp_path / "file" / "run")


def test_a_second_writer_is_refused_naming_the_holder(finished) -> None:
    config, run = finished
    with RunLock(run):
        before = folder_digest(run)
        with pytest.raises(RunLocked, match=rf"locked by process {os.getpid()} on {socket.gethostname()}"):
            _train(config, "training.steps=8", resume=True)
        assert folder_digest(run) == before


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_message(finished, capsys) -> None:
    config, run = finished
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "since": 0}))
    result = _train(config, "training.steps=6", resume=True)
    assert result.resumed_from == 4
    assert f"took over the lock of process {dead.pid}" in capsys.readouterr().err
    assert not (run / LOCK_NAME).exists()


def test_a_lock_of_another_host_is_never_stolen(finished) -> None:
    config, run = finished
    (run / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "since": 0}))
    with pytest.raises(RunLocked, match="process 1 on elsewhere.example"):
        _train(config, "training.steps=6", resume=True)


@pytest.mark.slow
def test_two_trainings_at_once_one_is_refused(tiny, tmp_path: Path) -> None:
    """Two real processes: the second is refused, naming the first, and changes nothing."""
    import time

    from .conftest import ROOT, cli_env, write_config

    path = write_config(tmp_path / "c.yaml", tiny("both", training={"steps": 10**6, "checkpoint": {"every": 50}}))
    first = subprocess.Popen([sys.executable, "-m", "polymodal", "train", str(path)], cwd=ROOT, env=cli_env(), stderr=subprocess.PIPE, text=True)
    try:
        checkpoints = tmp_path / "both" / "checkpoints"
        deadline = time.time() + 120
        while not (checkpoints.is_dir() and any(checkpoints.iterdir())) and first.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        second = subprocess.run(
            [sys.executable, "-m", "polymodal", "train", str(path), "--resume"], cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=300
        )
        assert first.poll() is None, first.stderr.read()
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1 and f"locked by process {first.pid}" in second.stderr
