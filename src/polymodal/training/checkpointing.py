"""Atomic training checkpoints: write, list, prune, and restore for ``--resume``.

A checkpoint is a directory ``checkpoints/step_00000120/`` holding ``model.safetensors``
(the trainable parameters and the buffers; frozen parameters are rebuilt from the config)
and ``trainer_state.pt`` (optimiser, scheduler, every RNG, the sampler position, the step).
and ``checksums.json`` (the size and SHA-256 of both). It is written under a temporary name,
every file fsync'ed, then renamed into place and the parent directory fsync'ed: a process
killed at any instant leaves either the complete checkpoint or none. A checkpoint damaged
later (a half-copied run folder, a truncated file, a bad disk) fails :func:`verify_checkpoint`
and ``--resume`` falls back to the newest intact one (:func:`newest_intact`).
``best.json`` (written the same way) names the checkpoint with the best evaluation metric,
which pruning keeps beside the last K.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import zipfile
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from polymodal._files import atomic_write_text
from polymodal._files import fsync_dir as _fsync_dir
from polymodal._files import read_json
from polymodal.errors import CheckpointError

__all__ = [
    "CheckpointInfo",
    "DamagedCheckpoint",
    "save_checkpoint",
    "verify_checkpoint",
    "newest_intact",
    "load_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "prune_checkpoints",
    "write_best",
    "read_best",
    "capture_rng",
    "restore_rng",
    "trainable_state",
    "atomic_write_text",
]

STEP_PREFIX = "step_"
CHECKSUMS = "checksums.json"
_FILES = ("model.safetensors", "trainer_state.pt")
# Test hook: seconds to sleep after the files are written and before the rename, so that a
# test can SIGKILL a process in the middle of a checkpoint write. Inert unless set.
_FAULT_SLEEP_ENV = "POLYMODAL_TEST_CHECKPOINT_SLEEP"


@dataclass(frozen=True)
class CheckpointInfo:
    step: int
    path: Path


class DamagedCheckpoint(CheckpointError):
    """A checkpoint whose files are missing, truncated or altered (not one of another model)."""


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters that train plus every buffer: what a checkpoint must carry to resume."""
    state = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    state.update({n: b.detach() for n, b in model.named_buffers()})
    return {k: v.contiguous().cpu() for k, v in state.items()}


def capture_rng() -> dict[str, Any]:
    """Every RNG state that training consumes: torch (CPU and CUDA), numpy and Python."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]), float(np_state[4])),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng` took. The states may come back from a checkpoint
    loaded onto the training device; torch takes generator states as CPU byte tensors only."""
    torch.set_rng_state(state["torch"].cpu())
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_checkpoint(root: Path, step: int, model: nn.Module, trainer_state: dict[str, Any]) -> CheckpointInfo:
    """Atomically write the checkpoint of ``step`` under ``root``; returns where it lies."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{STEP_PREFIX}{step:08d}"
    if final.exists():
        return CheckpointInfo(step, final)
    tmp = root / f".tmp-{STEP_PREFIX}{step:08d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_file(trainable_state(model), str(tmp / "model.safetensors"))
    torch.save({**trainer_state, "step": step}, tmp / "trainer_state.pt")
    for name in _FILES:
        _fsync_file(tmp / name)
    sums = {name: {"bytes": (tmp / name).stat().st_size, "sha256": _sha256(tmp / name)} for name in _FILES}
    atomic_write_text(tmp / CHECKSUMS, json.dumps({"step": step, "files": sums}, indent=2))
    _fsync_dir(tmp)
    delay = float(os.environ.get(_FAULT_SLEEP_ENV, "0") or 0)
    if delay > 0:
        (root.parent / "checkpoint_writing").write_text(str(step))
        time.sleep(delay)
    os.rename(tmp, final)
    _fsync_dir(root)
    return CheckpointInfo(step, final)


def list_checkpoints(root: Path) -> list[CheckpointInfo]:
    """Complete checkpoints under ``root``, oldest first (temporary leftovers are ignored)."""
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if path.is_dir() and path.name.startswith(STEP_PREFIX):
            try:
                found.append(CheckpointInfo(int(path.name[len(STEP_PREFIX) :]), path))
            except ValueError:
                continue
    return sorted(found, key=lambda c: c.step)


def latest_checkpoint(root: Path) -> CheckpointInfo | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def verify_checkpoint(info: CheckpointInfo) -> str | None:
    """Why the checkpoint at ``info`` cannot be trusted, or None when its files match
    ``checksums.json`` (sizes first, then SHA-256)."""
    try:
        recorded = read_json(info.path / CHECKSUMS)
    except CheckpointError:
        return f"{CHECKSUMS} is missing or unreadable (an incomplete copy?)"
    files = recorded.get("files")
    if not isinstance(files, dict) or set(files) != set(_FILES) or recorded.get("step") != info.step:
        return f"{CHECKSUMS} does not describe step {info.step}'s files"
    for name in _FILES:
        path, want = info.path / name, files[name]
        if not isinstance(want, dict) or not path.is_file():
            return f"{name} is missing"
        try:
            size = path.stat().st_size
            if size != want.get("bytes"):
                return f"{name} holds {size} bytes, {want.get('bytes')} were written"
            if _sha256(path) != want.get("sha256"):
                return f"{name} does not match its checksum (altered or corrupt)"
        except OSError as exc:
            return f"{name} is unreadable ({exc.strerror or type(exc).__name__})"
    return None


def newest_intact(root: Path, warn: Any = None) -> CheckpointInfo | None:
    """The newest checkpoint under ``root`` that passes :func:`verify_checkpoint`.

    Each damaged newer one is named through ``warn(message)``; when checkpoints exist but
    none is intact, raises :class:`DamagedCheckpoint` (resuming from scratch silently
    would throw the run away).
    """
    found = list_checkpoints(root)
    problems = []
    for info in reversed(found):
        problem = verify_checkpoint(info)
        if problem is None:
            return info
        problems.append(f"{info.path.name}: {problem}")
        if warn is not None:
            warn(f"warning: skipping the damaged checkpoint {info.path} ({problem})")
    if found:
        raise DamagedCheckpoint(
            str(root), "at least one intact checkpoint to resume from", "; ".join(problems),
            hint="start again without --resume (with --overwrite) or restore the run folder from a copy",
        )
    return None


def write_best(root: Path, step: int, metric: str, value: float) -> None:
    atomic_write_text(root / "best.json", json.dumps({"step": step, "metric": metric, "value": value}))


def read_best(root: Path) -> dict[str, Any] | None:
    """``best.json``'s content, or None when absent or unreadable (a damaged copy)."""
    path = root / "best.json"
    if not path.is_file():
        return None
    try:
        best = read_json(path)
    except CheckpointError:
        return None
    return best if isinstance(best.get("step"), int) and isinstance(best.get("metric"), str) else None


def prune_checkpoints(root: Path, keep_last: int) -> None:
    """Delete all but the last ``keep_last`` checkpoints and the best; clear temp leftovers."""
    best = read_best(root)
    keep_step = best["step"] if best else None
    found = list_checkpoints(root)
    for info in found[:-keep_last]:
        if info.step != keep_step:
            shutil.rmtree(info.path, ignore_errors=True)
    for path in root.glob(".tmp-*"):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def load_checkpoint(info: CheckpointInfo, model: nn.Module, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load the model tensors of ``info`` into ``model`` (strictly) and return the trainer state."""
    weights_path = info.path / "model.safetensors"
    state_path = info.path / "trainer_state.pt"
    if not weights_path.is_file() or not state_path.is_file():
        raise DamagedCheckpoint(str(info.path), "model.safetensors and trainer_state.pt", "an incomplete directory")
    try:
        weights = load_file(str(weights_path))
    except Exception as exc:  # safetensors raises its own SafetensorError and OSError
        raise DamagedCheckpoint(str(weights_path), "a readable safetensors file", f"{type(exc).__name__}: {exc}") from None
    expected = trainable_state(model)
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            str(weights_path),
            "the tensors of this model",
            f"missing {missing[:5]}, unexpected {unexpected[:5]}",
            hint="was the checkpoint written by a run with another model config?",
        )
    params = dict(model.named_parameters())
    params.update(dict(model.named_buffers()))
    with torch.no_grad():
        for name, tensor in weights.items():
            target = params[name]
            if target.shape != tensor.shape:
                raise CheckpointError(f"{weights_path}:{name}", f"shape {list(target.shape)}", list(tensor.shape))
            target.copy_(tensor)
    try:
        state = torch.load(state_path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise DamagedCheckpoint(str(state_path), "a readable trainer state", f"{type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or "step" not in state:
        raise DamagedCheckpoint(str(state_path), "a trainer state with its step", "a state without it")
    return state
